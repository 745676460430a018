// The syscalls and libbpf calls of network attachments (XDP, tc, packet
// sockets), kept beside Syscalls.swift as part of the same seam.
import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// `if_nametoindex`.
    static func interfaceIndex(_ name: String) -> Result<Int32, Errno> {
        let index = if_nametoindex(name)
        return index == 0 ? .failure(Errno.current) : .success(Int32(index))
    }

    /// `bpf_program__attach_xdp`: a BPF link (`BPF_LINK_CREATE`, kernel ≥ 5.9),
    /// so the program leaves the interface when the link's fd closes, even
    /// if the process dies.
    static func attachXDP(_ program: ProgramHandle, ifindex: Int32) -> Result<LinkHandle, Errno> {
        errno = 0
        guard let link = bpf_program__attach_xdp(program, ifindex) else { return .failure(Errno.current) }
        return .success(link)
    }

    /// `BPF_LINK_CREATE` with `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` (kernel ≥ 6.6):
    /// a tc program as a link, detached when the fd closes. libbpf 1.1 has no
    /// wrapper and no constant for it, hence the raw numbers from
    /// `enum bpf_attach_type` in <linux/bpf.h> of newer kernels.
    static func createTCXLink(programFD: Int32, ifindex: Int32, egress: Bool) -> Result<Int32, Errno> {
        let tcxIngress: UInt32 = 46, tcxEgress: UInt32 = 47
        let fd = bpf_link_create(programFD, ifindex, bpf_attach_type(rawValue: egress ? tcxEgress : tcxIngress), nil)
        return fd >= 0 ? .success(fd) : .failure(Errno(libbpf: fd))
    }

    /// The netlink way for kernels without tcx (`bpf_tc_hook_create` +
    /// `bpf_tc_attach`): returns the function that removes the filter again,
    /// and the clsact qdisc when this call created it.
    static func attachTCNetlink(programFD: Int32, ifindex: Int32, egress: Bool) -> Result<() -> Void, Errno> {
        var hook = bpf_tc_hook()
        hook.sz = MemoryLayout<bpf_tc_hook>.size
        hook.ifindex = ifindex
        hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS
        let created = bpf_tc_hook_create(&hook)
        if created < 0 && created != -EEXIST { return .failure(Errno(libbpf: created)) }
        var opts = bpf_tc_opts()
        opts.sz = MemoryLayout<bpf_tc_opts>.size
        opts.prog_fd = programFD
        let rc = bpf_tc_attach(&hook, &opts)
        if rc < 0 {
            if created == 0 { var all = hook; all.attach_point = bpf_tc_attach_point(rawValue: BPF_TC_INGRESS.rawValue | BPF_TC_EGRESS.rawValue); _ = bpf_tc_hook_destroy(&all) }
            return .failure(Errno(libbpf: rc))
        }
        let handle = opts.handle, priority = opts.priority, ownsQdisc = created == 0
        return .success({
            var h = hook
            var d = bpf_tc_opts()
            d.sz = MemoryLayout<bpf_tc_opts>.size
            d.handle = handle
            d.priority = priority
            _ = bpf_tc_detach(&h, &d)
            if ownsQdisc {
                h.attach_point = bpf_tc_attach_point(rawValue: BPF_TC_INGRESS.rawValue | BPF_TC_EGRESS.rawValue)
                _ = bpf_tc_hook_destroy(&h)
            }
        })
    }

    /// An `AF_PACKET` raw socket seeing every protocol (`ETH_P_ALL`), bound to
    /// `ifindex` when given, with the smallest receive buffer: the filter runs
    /// on every packet before the buffer is checked, so nothing needs to read it.
    static func packetSocket(ifindex: Int32?) -> Result<Int32, Errno> {
        let ethPAll: UInt16 = 0x0003
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), Int32(ethPAll.bigEndian))
        if fd < 0 { return .failure(Errno.current) }
        var small: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        if let ifindex {
            // struct sockaddr_ll: family u16, protocol be16, ifindex s32, hatype u16, pkttype u8, halen u8, addr[8].
            var address = [UInt8](repeating: 0, count: 20)
            withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: ethPAll.bigEndian) { address.replaceSubrange(2..<4, with: $0) }
            withUnsafeBytes(of: ifindex) { address.replaceSubrange(4..<8, with: $0) }
            let rc = address.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(20)) }
            if rc != 0 { let e = Errno.current; close(fd); return .failure(e) }
        }
        return .success(fd)
    }

    /// `setsockopt(SO_ATTACH_BPF)`.
    static func attachSocketFilter(socket fd: Int32, programFD: Int32) -> Errno? {
        var prog = programFD
        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, socklen_t(MemoryLayout<Int32>.size)) == 0 ? nil : Errno.current
    }
}
