import BPF

/// A program of a `LoadedObject`, as it stands when asked for.
///
/// A value snapshot: operations on the program go through the object
/// (`attach(program:)`, `testRun(program:…)`), which checks it is still open.
public struct Program: Sendable, Hashable, CustomStringConvertible {
    /// The program (function symbol) name.
    public var name: String
    /// The ELF section, libbpf's `SEC()` name (`cgroup/dev`, `xdp`, …).
    public var section: String
    /// The kernel program type libbpf derived from the section.
    public var type: ProgramType
    /// The program's fd once loaded, else -1.
    public var fd: Int32
    /// The kernel's id for the loaded program (what `bpftool prog show` lists).
    public var id: UInt32?

    public var isLoaded: Bool { fd >= 0 }
    public var description: String {
        "\(name) (section \(section)\(id.map { ", id \($0)" } ?? ""))"
    }
}

/// A map of a `LoadedObject` (BTF-defined maps and the `.rodata`/`.data`/`.bss`
/// arrays libbpf makes for global variables), as it stands when asked for.
public struct Map: Sendable, Hashable, CustomStringConvertible {
    /// The map's name (libbpf's: `.bss` becomes `<object>.bss`, truncated to 15 bytes).
    public var name: String
    public var type: MapType
    public var keySize: Int
    /// The size of one value; per-CPU maps return `valueSize` rounded up to 8, once per CPU.
    public var valueSize: Int
    public var maxEntries: Int
    /// The map's fd once loaded, else -1.
    public var fd: Int32

    /// Whether lookups return one value per possible CPU.
    public var isPerCPU: Bool {
        [MapType.percpuHash, .percpuArray, .lruPercpuHash, .percpuCgroupStorage].contains(type)
    }
    public var description: String { "\(name) (type \(type.rawValue), key \(keySize), value \(valueSize))" }
}
