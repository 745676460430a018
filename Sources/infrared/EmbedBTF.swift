#if canImport(Glibc)
import Glibc
#endif
import InfraredBTF
import InfraredCompression
import InfraredELF
import InfraredKernelImage
import InfraredLoader
import InfraredObject
import InfraredSupport

/// `--embed-btf FILE|DIR` (`gen loader`, `run`): the minimal BTF an object
/// needs from each kernel given, named by the kernel's release.
enum EmbedBTF {
    /// The archive a loader carries for `inputs`; empty when none are given.
    static func archive(object: [UInt8], objectName: String, inputs: [String]) throws -> [UInt8] {
        guard !inputs.isEmpty else { return [] }
        return try embedded(object: object, objectName: objectName, inputs: inputs).archive()
    }

    static func embedded(object: [UInt8], objectName: String, inputs: [String]) throws -> EmbeddedBTF {
        var entries: [EmbeddedBTF.Entry] = []
        var from: [String: String] = [:]
        for path in try inputs.flatMap(files) {
            let (release, target) = try kernelBTF(path)
            if let earlier = from[release] {
                throw CLIError("--embed-btf: \(earlier) and \(path) are both for kernel \(release); give one")
            }
            from[release] = path
            entries.append(EmbeddedBTF.Entry(release: release, btf: try minimal(object: object, name: objectName, target: target)))
        }
        return EmbeddedBTF(entries: entries)
    }

    /// A FILE as is; a DIR's files that look like kernel BTF or kernel images
    /// (a BTF or compression extension, or a `vmlinux`/`vmlinuz` name), sorted.
    static func files(_ input: String) throws -> [String] {
        var st = stat()
        guard stat(input, &st) == 0 else { throw CLIError("--embed-btf \(input): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return [input] }
        guard let dir = opendir(input) else { throw CLIError("--embed-btf \(input): \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            if release(fromFileName: name) != name || name.hasPrefix("vmlinu") { names.append(name) }
        }
        guard !names.isEmpty else {
            throw CLIError("--embed-btf \(input): no kernel BTF in this directory (looked for *.btf, *.btf.xz/gz/zst and vmlinux/vmlinuz files)")
        }
        return names.sorted().map { input.hasSuffix("/") ? input + $0 : input + "/" + $0 }
    }

    /// `6.1.0-56-cloud-amd64.btf.xz` → `6.1.0-56-cloud-amd64` (BTFHub's layout).
    static func release(fromFileName name: String) -> String {
        var name = name
        var stripped = true
        while stripped {
            stripped = false
            for ext in [".xz", ".gz", ".zst", ".lz4", ".btf", ".raw"] where name.hasSuffix(ext) && name.count > ext.count {
                name = String(name.dropLast(ext.count)); stripped = true
            }
        }
        return name
    }

    /// The release in a kernel image's banner (`Linux version RELEASE (…`).
    static func release(inKernel vmlinux: [UInt8]) -> String? {
        let banner = Array("Linux version ".utf8)
        guard let hit = vmlinux.firstRange(of: banner) else { return nil }
        let release = vmlinux[hit.upperBound..<min(hit.upperBound + 256, vmlinux.count)].prefix { $0 > 0x20 && $0 < 0x7f }
        return release.isEmpty ? nil : String(decoding: release, as: UTF8.self)
    }

    /// A kernel's BTF and release from raw BTF (compressed or not: release from
    /// the file's name), or a vmlinux ELF or compressed kernel image (release
    /// from the kernel's banner).
    static func kernelBTF(_ path: String) throws -> (release: String, btf: BTFSpec) {
        var bytes = try readFile(path)
        if let c = Compression.detect(bytes[...]) { bytes = try c.decompress(bytes[...], source: path) }
        let fileRelease = release(fromFileName: String(path.split(separator: "/").last ?? Substring(path)))
        if bytes.count >= 2, bytes[0] == 0x9f, bytes[1] == 0xeb {
            return (fileRelease, try BTFSpec(bytes: bytes, source: path))
        }
        let image: KernelImage
        do { image = try KernelImage(bytes: bytes, source: path) } catch {
            throw CLIError("--embed-btf \(path): neither raw BTF nor a kernel image: \(error)")
        }
        let raw = try image.btf()
        guard let release = release(inKernel: image.vmlinux) else {
            throw CLIError("--embed-btf \(path): the kernel has no `Linux version` banner to name its release; extract its BTF (`infrared btf extract`) to a file named RELEASE.btf")
        }
        return (release, try BTFSpec(bytes: raw, source: path))
    }

    /// The minimal BTF the object's CO-RE relocations need from `target`
    /// (`btf min`); a BTF with no types when the object has none.
    static func minimal(object bytes: [UInt8], name: String, target: BTFSpec) throws -> [UInt8] {
        var minimizer = BTFCoreMinimizer(target: target)
        try record(object: bytes, name: name, into: &minimizer, requireRelocations: false)
        return minimizer.minimalBTF().encoded()
    }

    static func record(object bytes: [UInt8], name: String, into minimizer: inout BTFCoreMinimizer, requireRelocations: Bool) throws {
        let object = try ObjectReader(bytes: bytes, name: name)
        guard let btfBytes = object.btf else { throw CLIError("\(name): no .BTF section") }
        guard let extBytes = object.btfExt else {
            if requireRelocations { throw CLIError("\(name): no .BTF.ext section") }
            return
        }
        let local = try BTFSpec(bytes: btfBytes, source: "\(name) .BTF")
        let ext = try BTFExt.decode(bytes: extBytes)
        let strings = try BTFStringTable(btf: btfBytes, source: "\(name) .BTF")
        var relocations: [BTFCoreRelocation] = []
        for section in ext.coreRelo {
            for r in section.records { relocations.append(try BTFCoreRelocation(r, strings: strings)) }
        }
        try minimizer.record(relocations, local: local)
    }
}
