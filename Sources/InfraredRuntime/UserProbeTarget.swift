import InfraredSupport

/// The attach point of a uprobe, uretprobe or USDT program as libbpf's section
/// name spells it (`uprobe/PATH:FUNC[+OFF]`, `uretprobe/…`, `usdt/PATH:PROVIDER:NAME`),
/// and the resolution of its binary for `--pid` and short library names.
struct UserProbeTarget: Equatable {
    enum Kind: Equatable {
        case uprobe(function: String, offset: Int, retprobe: Bool)
        case usdt(provider: String, name: String)
    }
    var path: String
    var kind: Kind

    /// nil for any other section (or a uprobe section without a target, which libbpf cannot auto-attach).
    init?(section: String) {
        if section.hasPrefix("usdt/") {
            let parts = section.dropFirst(5).split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty else { return nil }
            path = String(parts[0]); kind = .usdt(provider: String(parts[1]), name: String(parts[2]))
            return
        }
        let retprobe: Bool
        let rest: Substring
        if section.hasPrefix("uprobe/") { retprobe = false; rest = section.dropFirst(7) }
        else if section.hasPrefix("uretprobe/") { retprobe = true; rest = section.dropFirst(10) }
        else { return nil }
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        path = String(rest[..<colon])
        var function = String(rest[rest.index(after: colon)...])
        var offset = 0
        if let plus = function.lastIndex(of: "+") {
            let text = function[function.index(after: plus)...]
            guard let o = text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text) else { return nil }
            offset = o
            function = String(function[..<plus])
        }
        guard !path.isEmpty else { return nil }
        kind = .uprobe(function: function, offset: offset, retprobe: retprobe)
    }

    /// Whether the mapped or installed file `file` (a full path) is what `name` names:
    /// the same path, or for a short name (no `/`) a file whose base name is `name`
    /// or starts with `name` followed by `.` or `-` (`libruby` → `libruby-3.1.so.3.1`).
    static func matches(_ file: String, name: String) -> Bool {
        if name.contains("/" as Character) { return file == name }
        let base = file.split(separator: "/").last.map(String.init) ?? file
        guard base.hasPrefix(name) else { return false }
        let after = base.dropFirst(name.count)
        return after.isEmpty || after.hasPrefix(".") || after.hasPrefix("-")
    }

    /// The file paths `/proc/PID/maps` text maps (its last column; deleted files left out), in order, once each.
    static func mappedFiles(_ maps: String) -> [String] {
        var seen = Set<String>(), files: [String] = []
        for line in maps.split(separator: "\n") {
            // Address, perms, offset, device and inode hold no `/`: the path starts at the first.
            guard let slash = line.firstIndex(of: "/") else { continue }
            let file = String(line[slash...])
            if !file.hasSuffix(" (deleted)"), seen.insert(file).inserted { files.append(file) }
        }
        return files
    }

    /// `name` as a full path: through process `pid`'s maps (as `/proc/PID/root/…`
    /// is not needed for processes in our mount namespace, the mapped path itself),
    /// else the linker's directories; a full path without `pid` is returned as is.
    static func resolve(_ name: String, pid: Int32?, program: String) throws -> String {
        if let pid {
            guard let maps = Sys.readText("/proc/\(pid)/maps") else {
                throw RuntimeError.attachPointMissing(program: program, target: "process \(pid) (no /proc/\(pid)/maps)", errno: .noSuchFileOrDirectory, messages: [])
            }
            if let f = mappedFiles(maps).first(where: { matches($0, name: name) }) { return f }
            if name.contains("/" as Character) { return name }
        }
        if name.contains("/" as Character) { return name }
        for dir in Sys.linkerDirectories() {
            if let f = Sys.directoryEntries(dir).first(where: { matches(dir + "/" + $0, name: name) && $0.contains(text: ".so") }) {
                return dir + "/" + f
            }
        }
        throw RuntimeError.attachPointMissing(program: program,
            target: "library \(name)" + (pid.map { " (not mapped by process \($0), nor in the linker's directories)" } ?? " (not in the linker's directories)"),
            errno: .noSuchFileOrDirectory, messages: [])
    }
}

/// The files a process maps, as `--pid` resolves short library names: for
/// the hooks' `Target.library(name)`.
public enum MappedFiles {
    /// The file process `pid` maps that `name` names (a full path, or a
    /// short name such as `libruby`), or nil.
    public static func find(_ name: String, pid: Int32) -> String? {
        guard let maps = Sys.readText("/proc/\(pid)/maps") else { return nil }
        return UserProbeTarget.mappedFiles(maps).first { UserProbeTarget.matches($0, name: name) }
    }
}
