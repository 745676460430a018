import Foundation
import BPF
import InfraredObject

/// Options of one compilation.
public struct CompileOptions: Sendable {
    /// Kernel BTF used for context layouts and (later) CO-RE: raw BTF or ELF with `.BTF`.
    public var btfPath: String = "/sys/kernel/btf/vmlinux"
    /// Pass names after which the IR is printed to `dump` (`--dump-after`).
    public var dumpAfter: Set<String> = []
    public init() {}
}

/// The result of compiling a probe file.
public struct CompiledObject: Sendable {
    /// The relocatable BPF ELF object.
    public var bytes: [UInt8]
    /// The object before ELF encoding (programs, instructions, line info).
    public var object: ObjectFile
    /// IR dumps requested with `dumpAfter`.
    public var dumps: [String]
}

/// A compile error: `file:line:col: error: message` and a hint.
public struct Diagnostic: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?
    public init(file: String, line: Int, column: Int, message: String, hint: String? = nil) {
        self.file = file; self.line = line; self.column = column; self.message = message; self.hint = hint
    }
    public var description: String {
        var s = "\(file):\(line):\(column): error: \(message)"
        if let hint { s += "\n  hint: \(hint)" }
        return s
    }
}

/// The compiler driver: Ruby source → mruby ireps → IR → passes → BPF → ELF.
public enum Compiler {
    /// Compiles Ruby source text; `path` names it in diagnostics and line info.
    public static func compile(source: String, path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        fatalError("Compiler.compile: not implemented yet")
    }

    /// Compiles the file at `path`.
    public static func compile(path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Diagnostic(file: path, line: 1, column: 1, message: "cannot read \(path)", hint: "check the path and its permissions")
        }
        return try compile(source: text, path: path, options: options)
    }
}
