/// An attachment of a program (a libbpf `struct bpf_link`).
///
/// Detaches when closed or deinitialised. The `LoadedObject` that made it
/// keeps it too, so dropping a `Link` does not detach early, and closing the
/// object detaches every link it made, on every path.
public final class Link: @unchecked Sendable, CustomStringConvertible {
    /// The program's name.
    public let program: String
    /// What it is attached to (`cgroup:/sys/fs/cgroup/…`, or the section for auto-attach).
    public let target: String
    /// The kernel's id for the link (what `bpftool link show` lists), when it
    /// is a BPF link. Asked of the kernel on first use, not at attach: a
    /// loader attaching 100 programs reads none of them (one
    /// `BPF_OBJ_GET_INFO_BY_FD` each). Nil for a link closed before anyone
    /// asked: its fd is gone, and the kernel has forgotten the id.
    public var id: UInt32? {
        lock.withLock {
            if let knownID { return knownID }
            guard let handle else { return nil }
            let fd = Sys.linkFD(handle)
            let id = fd >= 0 ? Sys.linkID(fd: fd) : nil
            knownID = .some(id)
            return id
        }
    }
    /// The id once read (`.some(nil)`: not a BPF link).
    private var knownID: UInt32??

    private var handle: LinkHandle?
    /// How to detach an attachment that is not a libbpf `bpf_link` (a raw
    /// BPF link fd, a packet socket, a netlink tc filter).
    private var closer: (() -> Void)?
    private let lock = NSLockLite()

    init(handle: LinkHandle, program: String, target: String) {
        self.handle = handle
        self.program = program
        self.target = target
    }

    /// An attachment detached by `closer` instead of `bpf_link__destroy`.
    init(program: String, target: String, id: UInt32?, closer: @escaping () -> Void) {
        self.program = program
        self.target = target
        self.knownID = .some(id)
        self.closer = closer
    }

    /// Whether the link is still attached.
    public var isAttached: Bool { lock.withLock { handle != nil || closer != nil } }

    /// Detaches the program. Idempotent.
    public func close() {
        let (h, c): (LinkHandle?, (() -> Void)?) = lock.withLock { defer { handle = nil; closer = nil }; return (handle, closer) }
        if let h { Sys.destroyLink(h) }
        c?()
    }

    deinit { close() }

    public var description: String { "link \(id.map(String.init) ?? "-"): \(program) → \(target)" }
}
