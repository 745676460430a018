import Foundation
import InfraredFuzz

// libFuzzer entry points (built only by Scripts/fuzz.sh, with
// `-sanitize=fuzzer,address`).
//
// With INFRARED_FUZZ_READER=<reader> (disasm, btf-raw, btf-c, btf-extract,
// gen-skel) every input goes to that reader whole; without it the first
// byte picks the reader (`FuzzReader.select`). INFRARED_FUZZ_PRINT=1 prints
// each input's outcome.

nonisolated(unsafe) private var fixedReader: FuzzReader?
/// INFRARED_FUZZ_PRINT=1: print each input's outcome (for triage: `infrared-fuzz FILE...`).
nonisolated(unsafe) private var printResults = false

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let (reader, input) = fixedReader.map { ($0, bytes) } ?? FuzzReader.select(bytes)
    // An error is the right answer to bad bytes; only traps and sanitizer reports are findings.
    do {
        let size = try reader.read(input)
        if printResults { FileHandle.standardError.write(Data("\(reader.rawValue): \(size) bytes of output\n".utf8)) }
    } catch {
        if printResults { FileHandle.standardError.write(Data("\(reader.rawValue): error: \(error)\n".utf8)) }
    }
    return 0
}

/// libFuzzer's driver (compiler-rt's FuzzerDriver.cpp), for a program that has its own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable target with `main` defined as `<module>_main`
/// (for testable executables), which keeps libFuzzer's own `main` out of the
/// link; this is that function, and it hands over to libFuzzer's driver.
@_cdecl("infrared_fuzz_main")
public func infraredFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    if let name = ProcessInfo.processInfo.environment["INFRARED_FUZZ_READER"], !name.isEmpty {
        guard let reader = FuzzReader(rawValue: name) else {
            FileHandle.standardError.write(Data("infrared-fuzz: unknown reader \(name); readers: \(FuzzReader.allCases.map(\.rawValue).joined(separator: " "))\n".utf8))
            return 2
        }
        fixedReader = reader
    }
    printResults = ProcessInfo.processInfo.environment["INFRARED_FUZZ_PRINT"] == "1"
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzerTestOneInput)
}
