import BPF
#if canImport(Glibc)
import Glibc
#endif

/// Helpers hooks call to turn numbers a program recorded into names, for
/// printing and for metric labels:
///
/// - `ksym(addr)`: the kernel function containing `addr`, by
///   /proc/kallsyms (bpftrace's `ksym`: the name alone);
/// - `syscall_name(id)`: the x86_64 system call numbered `id`
///   (`SyscallNames`, generated from <asm/unistd_64.h>);
/// - `cgroup_path(id)`: the cgroup v2 directory whose id is `id`
///   (`cgroup_id`, `bpf_get_current_cgroup_id`), as a path below the
///   cgroup2 mount (`/system.slice/ssh.service`; `/` for the root).
///
/// Each answers nil for a number it cannot name.
extension LoaderSession {
    func helperHost(_ op: String, _ args: [HostValue]) throws -> HostValue? {
        guard ["ksym", "syscall_name", "cgroup_path"].contains(op) else { return nil }
        let name = op
        let n: UInt64
        switch args.first ?? .nil {
        case .int(let i): n = UInt64(bitPattern: i)                  // a kernel address reads negative as an Integer
        case .float(let d) where d >= 0 && d < 18446744073709551616.0: n = UInt64(d)
        case let other: throw LoaderFailure("\(name): the argument must be an Integer, not \(other)")
        }
        switch op {
        case "ksym": return symbolizer.kernelFunction(n).map(HostValue.string) ?? .nil
        case "syscall_name": return n > UInt64(Int.max) ? .nil : SyscallNames.x86_64[Int(n)].map(HostValue.string) ?? .nil
        default: return cgroups.path(id: n).map(HostValue.string) ?? .nil
        }
    }
}

/// Cgroup v2 ids to paths. A cgroup's id is its kernfs node id, which is
/// the inode number of its directory in the cgroup2 file system (kernel
/// 5.5 on, 64-bit: `kernfs_id_ino`), so one walk of the hierarchy with
/// `lstat` maps every id; a miss walks again (a cgroup made since), at
/// most once a second.
final class CgroupPaths {
    private var byID: [UInt64: String] = [:]
    private var walked: UInt64 = 0
    private var root: String?

    func path(id: UInt64) -> String? {
        if let p = byID[id] { return p }
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let now = UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
        guard walked == 0 || now - walked > 1_000_000_000 else { return nil }
        walked = now
        if root == nil { root = Self.cgroup2Mount() }
        guard let root else { return nil }
        var found: [UInt64: String] = [:]
        Self.walk(root, relative: "", into: &found, depth: 0)
        byID = found
        return byID[id]
    }

    /// Where the cgroup2 file system is mounted (/sys/fs/cgroup, or
    /// /sys/fs/cgroup/unified on a hybrid hierarchy), from /proc/self/mounts.
    static func cgroup2Mount() -> String? {
        guard let f = fopen("/proc/self/mounts", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let fields = String(cString: line).split(separator: " ")
            if fields.count > 2 && fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }

    private static func walk(_ dir: String, relative: String, into found: inout [UInt64: String], depth: Int) {
        var st = stat()
        guard depth < 64, lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return }
        found[UInt64(st.st_ino)] = relative.isEmpty ? "/" : relative
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            guard e.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            walk(dir + "/" + name, relative: relative + "/" + name, into: &found, depth: depth + 1)
        }
    }
}
