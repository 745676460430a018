import CLibBPF
import Foundation
import InfraredBTF
import InfraredKernelImage
import InfraredObject
import InfraredSkeleton

/// The code paths behind the `infrared` commands that read a file the user
/// names, each as one call on the file's bytes, so a fuzzer and a test can
/// feed them the same input (issue 8: fuzz the readers).
///
/// `read(_:)` does what the command does between reading the file and
/// writing the output, in memory: it returns the output's size, or throws
/// the error the command would print. Whatever the bytes, it must do one of
/// those two — a trap, an AddressSanitizer report or a hang is a bug in the
/// reader. The libFuzzer target (Fuzz/infrared-fuzz, `Scripts/fuzz.sh`)
/// runs it under `-sanitize=fuzzer,address`; `Tests/RegressionTests` feeds it
/// the crashers kept in `Tests/Regressions/<reader>/`.
public enum FuzzReader: String, CaseIterable, Sendable {
    /// `infrared disasm OBJ`: `ObjectReader`, then the listing (with the
    /// source lines from `.BTF`/`.BTF.ext`), plain and with `--alu32`.
    case disasm
    /// `infrared btf dump FILE --format raw`: `BTFSpec` (raw BTF, an ELF with
    /// `.BTF`, or either compressed), then bpftool's raw text.
    case btfRaw = "btf-raw"
    /// `infrared btf dump FILE --format c`: `BTFSpec`, then libbpf's btf_dump.
    case btfC = "btf-c"
    /// `infrared btf extract IMAGE`: `KernelImage` (bzImage, a compressed
    /// vmlinux anywhere in the file, or an ELF), then its checked `.BTF`.
    case btfExtract = "btf-extract"
    /// `infrared gen skel OBJ`: libbpf opens the object (`SkeletonModel`),
    /// then the C and the Swift skeleton.
    case genSkel = "gen-skel"

    /// Runs the reader on `bytes`: the size of what the command would print
    /// or write, or the error it would report.
    @discardableResult
    public func read(_ bytes: [UInt8]) throws -> Int {
        Self.quietLibbpf
        switch self {
        case .disasm:
            let object = try ObjectReader(bytes: bytes, name: "fuzz.bpf.o")
            let plain = Disassembler.listing(object)
            let alu32 = Disassembler.listing(object, options: .init(alu32: true, showRawBytes: false))
            return plain.utf8.count + alu32.utf8.count
        case .btfRaw:
            return BTFDump.raw(try BTFSpec(bytes: bytes, source: "fuzz.btf")).count
        case .btfC:
            return try BTFDump.c(try BTFSpec(bytes: bytes, source: "fuzz.btf")).count
        case .btfExtract:
            return try KernelImage(bytes: bytes, source: "fuzz-vmlinuz").btf().count
        case .genSkel:
            let model = try SkeletonModel(object: bytes, name: "fuzz")
            return CSkeleton.generate(model, source: "fuzz.bpf.o").utf8.count
                + SwiftSkeleton.generate(model, source: "fuzz.bpf.o").utf8.count
        }
    }

    /// The reader a fuzzer input selects with its first byte (modulo the
    /// number of readers), and the rest of the input, which that reader gets.
    public static func select(_ input: [UInt8]) -> (FuzzReader, [UInt8]) {
        guard let first = input.first else { return (.disasm, []) }
        return (allCases[Int(first) % allCases.count], Array(input.dropFirst()))
    }

    /// libbpf prints a warning for each thing it dislikes in an object;
    /// thousands of inputs a second would bury the fuzzer's own output.
    private static let quietLibbpf: Void = { _ = libbpf_set_print(nil) }()
}
