import Foundation
import XCTest
import BPF
import InfraredRuntime

/// C fixtures the tests compile with clang; each is small enough to read here.
enum CSources {
    static let prelude = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        char LICENSE[] SEC("license") = "GPL";

        """

    /// A socket filter that returns `skb->len`.
    static let socketFilter = prelude + """
        SEC("socket")
        int packet_len(struct __sk_buff *skb)
        {
            return skb->len;
        }
        """

    /// XDP: pass IPv4 frames, drop the rest, abort on runts.
    static let xdp = prelude + """
        SEC("xdp")
        int xdp_ipv4(struct xdp_md *ctx)
        {
            unsigned char *data = (void *)(long)ctx->data;
            unsigned char *end = (void *)(long)ctx->data_end;
            if (data + 14 > end)
                return XDP_ABORTED;
            return data[12] == 0x08 && data[13] == 0x00 ? XDP_PASS : XDP_DROP;
        }
        """

    /// cgroup/dev: deny /dev/urandom (char 1:9), allow everything else.
    static let deviceFilter = prelude + """
        SEC("cgroup/dev")
        int deny_urandom(struct bpf_cgroup_dev_ctx *ctx)
        {
            if (ctx->major == 1 && ctx->minor == 9)
                return 0;
            return 1;
        }
        """

    /// A valid program followed by one reading past the end of `__sk_buff`.
    static let rejected = prelude + """
        SEC("socket")
        int fine(struct __sk_buff *skb)
        {
            return 0;
        }

        SEC("socket")
        int bad_ctx(struct __sk_buff *skb)
        {
            return *(volatile __u32 *)((char *)skb + 4096);
        }
        """

    /// A tracepoint counting getppid(2) calls in an array map.
    static let tracepoint = prelude + """
        struct {
            __uint(type, BPF_MAP_TYPE_ARRAY);
            __uint(max_entries, 1);
            __type(key, __u32);
            __type(value, __u64);
        } counts SEC(".maps");

        SEC("tracepoint/syscalls/sys_enter_getppid")
        int count_getppid(void *ctx)
        {
            __u32 key = 0;
            __u64 *value = bpf_map_lookup_elem(&counts, &key);
            if (value)
                __sync_fetch_and_add(value, 1);
            return 0;
        }
        """

    /// A tracepoint that does not exist.
    static let missingTracepoint = prelude + """
        SEC("tracepoint/syscalls/sys_enter_no_such_syscall")
        int nowhere(void *ctx)
        {
            return 0;
        }
        """
}

/// The machine itself: the one test that says, before anything else, whether
/// BPF can be loaded here. It fails (never skips) when it cannot.
final class MachineTests: XCTestCase {
    func testRunningAsRoot() {
        XCTAssertEqual(geteuid(), 0, "kernel tests need root (or CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN)")
    }

    func testCanLoadBPF() {
        switch Kernel.canLoadBPF() {
        case .success: break
        case .failure(let error): XCTFail("this machine cannot load BPF: \(error)")
        }
    }

    func testCgroup2IsMounted() throws {
        XCTAssertNoThrow(try Support.cgroup2Root())
    }

    func testClangTargetsBPF() throws {
        let bytes = try Support.compileC(CSources.socketFilter)
        XCTAssertEqual(Array(bytes.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "clang did not write an ELF object")
    }
}

final class RuntimeTests: KernelTestCase {
    func testSocketFilterTestRunReturnsPacketLength() throws {
        let object = try LoadedObject(bytes: try Support.compileC(CSources.socketFilter), options: LoadOptions(objectName: "sockfilter"))
        defer { object.close() }
        let program = try XCTUnwrap(object.program(named: "packet_len"))
        XCTAssertEqual(program.section, "socket")
        XCTAssertEqual(program.type, .socketFilter)
        XCTAssertTrue(program.isLoaded)
        XCTAssertNotNil(program.id)

        // The kernel pulls the Ethernet header before running a socket filter
        // (eth_type_trans), so skb->len is the length past it; an IPv4 frame
        // must also hold an IPv4 header (20 bytes) or the test run is EINVAL.
        for length in [34, 64, 1500] {
            let result = try object.testRun(program: "packet_len", packet: Support.packet(count: length), repeat: 3)
            XCTAssertEqual(result.retval, UInt32(length - 14), "packet of \(length) bytes")
        }
        XCTAssertEqual(try object.testRun(program: "packet_len", packet: Support.packet(count: 14, etherType: 0x88b5)).retval, 0)
        XCTAssertThrowsError(try object.testRun(program: "packet_len", packet: Support.packet(count: 14))) { error in
            guard case RuntimeError.failed(let program, _, let errno, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(program, "packet_len")
            XCTAssertEqual(errno, .invalidArgument)
        }
    }

    func testXDPTestRun() throws {
        let object = try LoadedObject(bytes: try Support.compileC(CSources.xdp), options: LoadOptions(objectName: "xdp"))
        defer { object.close() }
        XCTAssertEqual(object.program(named: "xdp_ipv4")?.type, .xdp)
        let pass: UInt32 = 2, drop: UInt32 = 1
        XCTAssertEqual(try object.testRun(program: "xdp_ipv4", packet: Support.packet(etherType: 0x0800)).retval, pass)
        XCTAssertEqual(try object.testRun(program: "xdp_ipv4", packet: Support.packet(etherType: 0x86dd), repeat: 10).retval, drop)
    }

    func testCgroupDeviceProgramDeniesURandomOnly() throws {
        let object = try LoadedObject(bytes: try Support.compileC(CSources.deviceFilter), options: LoadOptions(objectName: "devfilter"))
        defer { object.close() }
        XCTAssertEqual(object.program(named: "deny_urandom")?.type, .cgroupDevice)

        let cgroup = try Support.Cgroup()
        defer { cgroup.remove() }
        XCTAssertEqual(try cgroup.readDevice("/dev/urandom").status, 0, "control: /dev/urandom readable before attaching")

        let link = try object.attachCgroup(program: "deny_urandom", cgroupPath: cgroup.path)
        XCTAssertTrue(link.isAttached)
        XCTAssertNotNil(link.id)
        let denied = try cgroup.readDevice("/dev/urandom")
        XCTAssertNotEqual(denied.status, 0, "/dev/urandom opened despite the program")
        XCTAssertTrue(denied.stderr.contains("Operation not permitted"), denied.stderr)
        XCTAssertEqual(try cgroup.readDevice("/dev/zero").status, 0, "/dev/zero must stay readable")

        link.close()
        XCTAssertFalse(link.isAttached)
        XCTAssertEqual(try cgroup.readDevice("/dev/urandom").status, 0, "closing the link must detach the program")
    }

    func testVerifierRejectionNamesProgramAndKeepsLog() throws {
        let bytes = try Support.compileC(CSources.rejected)
        XCTAssertThrowsError(try LoadedObject(bytes: bytes, options: LoadOptions(objectName: "rejected"))) { error in
            guard let error = error as? LoadError, case .verifierRejected(let program, let errno, let log) = error else {
                return XCTFail("expected a verifier rejection, got \(error)")
            }
            XCTAssertEqual(program, "bad_ctx")
            XCTAssertEqual(error.program, "bad_ctx")
            XCTAssertTrue([Errno.permissionDenied, .invalidArgument].contains(errno), "\(errno)")
            XCTAssertTrue(log.contains("invalid bpf_context access"), log)
            let summary = error.description
            XCTAssertTrue(summary.contains("'bad_ctx'"), summary)
            XCTAssertTrue(summary.contains("invalid bpf_context access"), summary)
            XCTAssertLessThanOrEqual(summary.split(separator: "\n").count, LoadError.summaryLines + 2, summary)
        }
    }

    /// Every program's log buffer is its own slice of one mapping: at log
    /// level 1 the loaded program keeps its log and the rejected one its
    /// own, neither spilling into the other (small buffers, so a slice
    /// that overlapped its neighbour would show).
    func testEachProgramKeepsItsOwnVerifierLog() throws {
        let object = try LoadedObject.open(bytes: try Support.compileC(CSources.rejected),
                                           options: LoadOptions(objectName: "twologs", verifierLogLevel: 1, verifierLogSize: 4096))
        defer { object.close() }
        XCTAssertEqual(object.programs.map(\.name), ["fine", "bad_ctx"])
        XCTAssertEqual(object.verifierLog(program: "fine"), "", "nothing is written before a load")
        XCTAssertThrowsError(try object.load()) { error in
            guard let error = error as? LoadError, case .verifierRejected(let program, _, let log) = error else {
                return XCTFail("expected a verifier rejection, got \(error)")
            }
            XCTAssertEqual(program, "bad_ctx")
            XCTAssertTrue(log.contains("invalid bpf_context access"), log)
        }
        let fine = object.verifierLog(program: "fine") ?? ""
        let bad = object.verifierLog(program: "bad_ctx") ?? ""
        XCTAssertTrue(fine.contains("processed"), fine)
        XCTAssertFalse(fine.contains("invalid bpf_context access"), fine)
        XCTAssertTrue(bad.contains("invalid bpf_context access"), bad)
        XCTAssertLessThan(fine.utf8.count, 4096)
        XCTAssertLessThan(bad.utf8.count, 4096)
    }

    func testOpenRejectsGarbage() {
        XCTAssertThrowsError(try LoadedObject.open(bytes: Array("not an ELF object".utf8))) { error in
            guard case LoadError.invalidObject = error else { return XCTFail("expected invalidObject, got \(error)") }
        }
    }

    func testOpenWithoutLoadThenLoad() throws {
        let object = try LoadedObject.open(bytes: try Support.compileC(CSources.socketFilter), options: LoadOptions(objectName: "twostep", verifierLogLevel: 1))
        defer { object.close() }
        XCTAssertFalse(object.isLoaded)
        XCTAssertEqual(object.programs.map(\.name), ["packet_len"])
        XCTAssertEqual(object.programs.first?.fd, -1)
        XCTAssertThrowsError(try object.testRun(program: "packet_len", packet: Support.packet())) { error in
            guard case RuntimeError.notLoaded = error else { return XCTFail("\(error)") }
        }
        try object.load()
        XCTAssertTrue(object.isLoaded)
        XCTAssertFalse((object.verifierLog(program: "packet_len") ?? "").isEmpty, "log level 1 keeps the log of a loaded program")
        XCTAssertThrowsError(try object.attach(program: "nope")) { error in
            guard case RuntimeError.noSuchProgram("nope", let available) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(available, ["packet_len"])
        }
    }

    func testAutoAttachTracepointCountsCalls() throws {
        guard FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls")
                || FileManager.default.fileExists(atPath: "/sys/kernel/debug/tracing/events/syscalls") else {
            throw XCTSkip("tracefs is not mounted (Scripts/setup.sh mounts it at /sys/kernel/tracing)")
        }
        let object = try LoadedObject(bytes: try Support.compileC(CSources.tracepoint), options: LoadOptions(objectName: "tp"))
        defer { object.close() }
        let map = try XCTUnwrap(object.map(named: "counts"))
        XCTAssertEqual(map.type, .array)
        XCTAssertEqual(map.valueSize, 8)

        let link = try object.attach(program: "count_getppid")
        XCTAssertEqual(object.attachedLinks.count, 1)
        for _ in 0..<25 { _ = getppid() }
        // A link's id is read from the kernel when first asked for, and kept.
        let id = try XCTUnwrap(link.id)
        XCTAssertTrue(try Kernel.linkIDs().contains(id))
        link.close()
        XCTAssertEqual(link.id, id)
        let unasked = try object.attach(program: "count_getppid")
        unasked.close()
        XCTAssertNil(unasked.id, "a link closed before its id was asked for has none")
        XCTAssertEqual(object.attachedLinks.count, 0)
        let value = try XCTUnwrap(object.lookup(map: "counts", key: [0, 0, 0, 0]))
        let count = value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertGreaterThanOrEqual(count, 25)
        XCTAssertEqual(try object.keys(map: "counts").count, 1)
        try object.update(map: "counts", key: [0, 0, 0, 0], value: [UInt8](repeating: 0, count: 8))
        XCTAssertEqual(try object.lookup(map: "counts", key: [0, 0, 0, 0]), [UInt8](repeating: 0, count: 8))
    }

    /// 40 attachments of one program (two to each of 20 cgroups, the first
    /// closed before the second is made): the object keeps exactly the 20
    /// open links (closed ones are dropped in batches), each with its own id.
    func testManyAttachmentsAndLazyLinkIDs() throws {
        let object = try LoadedObject(bytes: try Support.compileC(CSources.deviceFilter), options: LoadOptions(objectName: "devmany"))
        defer { object.close() }
        let cgroups = try (0..<20).map { _ in try Support.Cgroup() }
        defer { object.detachAll(); cgroups.forEach { $0.remove() } }
        var open: [Link] = []
        for cgroup in cgroups {
            try object.attachCgroup(program: "deny_urandom", cgroupPath: cgroup.path).close()
            open.append(try object.attachCgroup(program: "deny_urandom", cgroupPath: cgroup.path))
        }
        XCTAssertEqual(object.attachedLinks.count, 20)
        XCTAssertEqual(Set(object.attachedLinks.map(ObjectIdentifier.init)), Set(open.map(ObjectIdentifier.init)))
        let ids = open.compactMap(\.id)
        XCTAssertEqual(Set(ids).count, 20)
        XCTAssertTrue(Set(ids).isSubset(of: Set(try Kernel.linkIDs())))
        XCTAssertNotEqual(try cgroups[7].readDevice("/dev/urandom").status, 0, "the second attachment is in force")
        object.detachAll()
        XCTAssertEqual(object.attachedLinks.count, 0)
        XCTAssertTrue(try Support.eventually { Set(ids).isDisjoint(with: Set(try Kernel.linkIDs())) }, "links left after detachAll")
    }

    func testMissingAttachPoint() throws {
        guard FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events")
                || FileManager.default.fileExists(atPath: "/sys/kernel/debug/tracing/events") else {
            throw XCTSkip("tracefs is not mounted (Scripts/setup.sh mounts it at /sys/kernel/tracing)")
        }
        let object = try LoadedObject(bytes: try Support.compileC(CSources.missingTracepoint), options: LoadOptions(objectName: "missing"))
        defer { object.close() }
        XCTAssertThrowsError(try object.attach(program: "nowhere")) { error in
            guard case RuntimeError.attachPointMissing(let program, let target, _, _) = error else {
                return XCTFail("expected attachPointMissing, got \(error)")
            }
            XCTAssertEqual(program, "nowhere")
            XCTAssertTrue(target.contains("sys_enter_no_such_syscall"), target)
        }
        XCTAssertTrue(object.attachedLinks.isEmpty)

        let device = try LoadedObject(bytes: try Support.compileC(CSources.deviceFilter), options: LoadOptions(objectName: "nocg"))
        defer { device.close() }
        XCTAssertThrowsError(try device.attachCgroup(program: "deny_urandom", cgroupPath: "/sys/fs/cgroup/unified/infrared-no-such-cgroup")) { error in
            guard case RuntimeError.attachPointMissing = error else { return XCTFail("expected attachPointMissing, got \(error)") }
        }
        XCTAssertThrowsError(try device.attach(program: "deny_urandom")) { error in
            guard case RuntimeError.cannotAutoAttach("deny_urandom", "cgroup/dev") = error else {
                return XCTFail("expected cannotAutoAttach, got \(error)")
            }
            XCTAssertTrue("\(error)".contains("attachCgroup"), "\(error)")
        }
    }

    func testErrorDescriptions() {
        let denied = LoadError.permissionDenied(program: "p", operation: "BPF_PROG_LOAD", errno: .notPermitted)
        XCTAssertEqual(denied.description, "program 'p': BPF_PROG_LOAD: EPERM (Operation not permitted): \(privilegeHint)")
        XCTAssertEqual(privilegeHint, "needs root or CAP_BPF+CAP_PERFMON/CAP_SYS_ADMIN")
        let log = (1...30).map { "line \($0)" }.joined(separator: "\n")
        let rejected = LoadError.verifierRejected(program: "q", errno: .permissionDenied, log: log)
        XCTAssertEqual(rejected.verifierLog, log)
        let lines = rejected.description.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "program 'q' rejected by the verifier (BPF_PROG_LOAD: EACCES (Permission denied)):")
        XCTAssertEqual(lines.last, "  line 30")
        XCTAssertEqual(lines.filter { $0.hasPrefix("  line ") }.count, LoadError.summaryLines)
        XCTAssertEqual(Errno(libbpf: -4001).name, "LIBBPF_ERRNO__FORMAT")
        // EACCES attaching a tracepoint: tracefs's mode without root; as root,
        // perf's check that the program reads no further than the record.
        let attach = RuntimeError.permissionDenied(program: "p", operation: "attach tracepoint/syscalls/sys_enter_getpid", errno: .permissionDenied)
        let expected = geteuid() == 0 ? "reads past the end of the tracepoint's record" : "readable by root only"
        XCTAssertTrue(attach.description.hasPrefix("program 'p': attach tracepoint/syscalls/sys_enter_getpid: EACCES (Permission denied): "), attach.description)
        XCTAssertTrue(attach.description.contains(expected), attach.description)
        XCTAssertFalse(attach.description.contains(privilegeHint), attach.description)
    }

    func testNothingLeftAfterClose() throws {
        let object = try LoadedObject(bytes: try Support.compileC(CSources.deviceFilter), options: LoadOptions(objectName: "leftover"))
        let cgroup = try Support.Cgroup()
        defer { cgroup.remove() }
        // Dropping the Link must not detach: the object keeps it until close().
        try object.attachCgroup(program: "deny_urandom", cgroupPath: cgroup.path)
        let programID = try XCTUnwrap(object.program(named: "deny_urandom")?.id)
        let linkID = try XCTUnwrap(object.attachedLinks.first?.id)
        XCTAssertTrue(try Kernel.programIDs().contains(programID))
        XCTAssertTrue(try Support.bpftoolProgramIDs().contains(programID))
        XCTAssertTrue(try Support.bpftoolLinkIDs().contains(linkID))
        XCTAssertNotEqual(try cgroup.readDevice("/dev/urandom").status, 0, "dropped Link detached early")

        object.close()
        XCTAssertTrue(object.isClosed)
        XCTAssertTrue(try Support.eventually { try !Kernel.programIDs().contains(programID) }, "program \(programID) still loaded")
        XCTAssertTrue(try Support.eventually { try !Kernel.linkIDs().contains(linkID) }, "link \(linkID) still there")
        XCTAssertFalse(try Support.bpftoolProgramIDs().contains(programID))
        XCTAssertFalse(try Support.bpftoolLinkIDs().contains(linkID))
        XCTAssertEqual(try cgroup.readDevice("/dev/urandom").status, 0)
        XCTAssertThrowsError(try object.testRun(program: "deny_urandom", packet: [])) { error in
            guard case RuntimeError.closed = error else { return XCTFail("\(error)") }
        }
    }

    func testDeinitDetaches() throws {
        let cgroup = try Support.Cgroup()
        defer { cgroup.remove() }
        var programID: UInt32?
        do {
            let object = try LoadedObject(bytes: try Support.compileC(CSources.deviceFilter), options: LoadOptions(objectName: "scoped"))
            try object.attachCgroup(program: "deny_urandom", cgroupPath: cgroup.path)
            programID = object.program(named: "deny_urandom")?.id
            XCTAssertNotEqual(try cgroup.readDevice("/dev/urandom").status, 0)
        }
        let id = try XCTUnwrap(programID)
        XCTAssertTrue(try Support.eventually { try !Kernel.programIDs().contains(id) }, "program \(id) outlived its object")
        XCTAssertEqual(try cgroup.readDevice("/dev/urandom").status, 0)
    }

    /// `forEachEntry` reads in batches of 4,096 (and says so): 10,000 hash entries (three
    /// batches and a last partial one), a per-CPU hash's values (one slot per
    /// possible CPU) and an array's every slot, each equal to what
    /// get-next-key plus lookup read entry by entry.
    func testEntriesReadInBatchesEqualKeyByKey() throws {
        let source = CSources.prelude + """
            struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 20000); __type(key, __u32); __type(value, __u64); } big SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } pc SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 10); __type(key, __u32); __type(value, __u32); } arr SEC(".maps");
            SEC("socket")
            int f(struct __sk_buff *skb) { return 0; }
            """
        let object = try LoadedObject(bytes: try Support.compileC(source), options: LoadOptions(objectName: "batch"))
        defer { object.close() }
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        for i in 0..<10_000 { try object.update(map: "big", key: le(UInt64(i) * 7, 4), value: le(UInt64(i) * 1_000_003, 8)) }
        for i in 0..<40 { try object.update(map: "pc", key: le(UInt64(i), 4), value: (0..<(try Self.possibleCPUs())).flatMap { c in le(UInt64(i * 100 + c), 8) }) }
        for i in 0..<10 where i % 3 == 0 { try object.update(map: "arr", key: le(UInt64(i), 4), value: le(UInt64(i + 1), 4)) }
        for name in ["big", "pc", "arr"] {
            var batched: [(key: [UInt8], value: [UInt8])] = []
            XCTAssertTrue(try object.forEachEntry(map: name) { k, v in batched.append((Array(k), Array(v))) }, "\(name): read in batches")
            XCTAssertEqual(try object.entries(map: name).count, batched.count, name)
            let oneByOne = try object.keys(map: name).compactMap { k in try object.lookup(map: name, key: k).map { (k, $0) } }
            XCTAssertEqual(batched.count, ["big": 10_000, "pc": 40, "arr": 10][name], name)
            let a = [[UInt8]: [UInt8]](uniqueKeysWithValues: batched.map { ($0.key, $0.value) })
            let b = [[UInt8]: [UInt8]](uniqueKeysWithValues: oneByOne.map { ($0.0, $0.1) })
            XCTAssertEqual(a, b, name)
        }
    }

    static func possibleCPUs() throws -> Int {
        let text = try String(contentsOfFile: "/sys/devices/system/cpu/possible", encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").reduce(0) { n, part in
            let r = part.split(separator: "-").compactMap { Int($0) }
            return n + (r.count == 2 ? r[1] - r[0] + 1 : 1)
        }
    }
}
