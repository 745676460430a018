#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredBTF
import InfraredCompression
import InfraredSupport

/// The kernel BTF fixtures committed in the repository's `BTF/` folder:
/// `BTF/RELEASE.btf.xz` (the `.BTF` of Debian's cloud kernel RELEASE, xz
/// compressed) listed in `BTF/VERSIONS` with package, version and checksum.
/// Regenerate them with `Scripts/update-btf.sh`.
///
/// Tests find the repository from their own path, e.g.
/// `URL(fileURLWithPath: #filePath)` three levels up, and pass it as `repository`.
public enum BTFFixtures {
    /// The releases listed in `BTF/VERSIONS`, in file order
    /// (e.g. `6.1.0-56-cloud-amd64`, `6.12.117+deb12-cloud-amd64`).
    public static func releases(in repository: URL) throws -> [String] {
        let versions = repository.appendingPathComponent("BTF/VERSIONS")
        guard let text = try? String(contentsOf: versions, encoding: .utf8) else {
            throw BTFFormatError(versions.path, "cannot read the fixture list")
        }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    /// The first release whose name starts with `prefix` ("6.1.", "6.12.").
    public static func release(startingWith prefix: String, in repository: URL) throws -> String {
        guard let r = try releases(in: repository).first(where: { $0.hasPrefix(prefix) }) else {
            throw BTFFormatError(repository.appendingPathComponent("BTF/VERSIONS").path, "no fixture for a \(prefix)* kernel")
        }
        return r
    }

    /// Path of the compressed fixture of `release`.
    public static func path(_ release: String, in repository: URL) -> URL {
        repository.appendingPathComponent("BTF/\(release).btf.xz")
    }

    /// The raw BTF of `release`, decompressed.
    public static func rawBTF(_ release: String, in repository: URL) throws -> [UInt8] {
        let p = path(release, in: repository).path
        let compressed = try readFile(p)
        return try Compression.xz.decompress(compressed[...], source: p)
    }

    /// The fixture of `release` as a spec (what `BTFSpec(path:)` gives for the `.btf.xz`).
    public static func load(_ release: String, in repository: URL) throws -> BTFSpec {
        try BTFSpec(path: path(release, in: repository).path)
    }
}
