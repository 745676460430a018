#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BPF
import InfraredBTF
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
    /// Programs, params, maps and record layouts, for loaders and skeletons.
    public var manifest: Manifest
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
    ///
    /// The pipeline, one stage a line:
    ///   1. mruby compiles the file and runs its top level with the prelude (Frontend/)
    ///   2. the declarations it recorded are read back (Frontend/Declarations)
    ///   3. each program body's irep is lowered to IR (IR/Lowering)
    ///   4. the optimisation passes run (Passes/)
    ///   5. instruction selection, register allocation, emission (Codegen/)
    ///   6. the object is written: ELF, .BTF, .BTF.ext (InfraredObject)
    public static func compile(source: String, path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let session = try MRubySession()
        try session.load(prelude: Prelude.text, source: source, path: path)
        let declarations = try Declarations(session: session, path: path, sourceLines: lines)
        guard !declarations.programs.isEmpty else {
            throw Diagnostic(file: path, line: 1, column: 1, message: "the file declares no program",
                             hint: "declare one, e.g. `xdp do |ctx| … end`, or in the seed form `section! \"cgroup/dev\"` before a `def`")
        }
        var kernel: KernelBTF? = nil
        func kernelBTF() throws -> KernelBTF {
            if let kernel { return kernel }
            do { kernel = try KernelBTF(path: options.btfPath) } catch {
                throw Diagnostic(file: path, line: 1, column: 1, message: "cannot read kernel BTF from \(options.btfPath): \(error)",
                                 hint: "pass --btf FILE with the BTF of the target kernel")
            }
            return kernel!
        }

        var strings = StringPool()
        var programs: [ProgramSection] = []
        var functions: [ProgramBTFSpec.Function] = []
        var dumps: [String] = []
        let core = CoreTypes()
        let records = RecordTypes()
        for decl in declarations.programs {
            // The context: the seed form's class, or what the kernel passes this program type.
            let (layout, contextType) = try ContextLayouts.layout(for: decl, btf: kernelBTF, path: path)
            let lowering = Lowering(session: session, path: path, sourceLines: lines, declaration: decl, context: layout, strings: strings,
                                    language: declarations.language, core: core, kernelBTF: kernelBTF)
            lowering.functions = declarations.functions
            lowering.records = records
            var (ir, pool) = try lowering.lower()
            strings = pool
            ir.readOnlyVariables = Set(declarations.language.paramOrder)
            if options.dumpAfter.contains("lower") { dumps.append("; after lower\n\(ir)") }
            for pass in Pass.pipeline {
                pass.run(&ir)
                if options.dumpAfter.contains(pass.name) { dumps.append("; after \(pass.name)\n\(ir)") }
            }
            try Checks.run(ir, kind: decl.kind, path: path, lines: lines)
            let selected = Selection.select(ir)
            let allocated: MFunction
            do { allocated = try RegisterAllocation.allocate(selected) } catch let e as RegisterAllocation.Failure {
                throw Diagnostic(file: path, line: decl.line, column: 1, message: "program `\(decl.name)`: \(e.message)",
                                 hint: "split the work into smaller programs or use fewer live values at once")
            }
            let code = Emission.emit(TailMerging.merge(allocated), firstLine: decl.line)
            guard code.instructions.count <= 1_000_000 else {
                throw Diagnostic(file: path, line: decl.line, column: 1, message: "program `\(decl.name)` is too large (\(code.instructions.count) instructions)", hint: nil)
            }
            functions.append(.init(name: decl.name, returnType: .int(name: "int", size: 4, signed: true),
                                   parameters: [(name: "ctx", type: contextType)]))
            let coreRelocations = code.core.map { (at, r) in
                CoreRelocation(kind: ir.coreRelocations[r].kind, instruction: at, rootType: ir.coreRelocations[r].rootType, path: ir.coreRelocations[r].path)
            }
            programs.append(ProgramSection(name: decl.name, section: decl.section, instructions: code.instructions,
                                           relocations: code.relocations, lines: code.lines, function: functions.count - 1,
                                           coreRelocations: coreRelocations))
        }
        var language = declarations.language
        if declarations.programs.contains(where: { $0.kind.declaration == "usdt" }) {
            // libbpf's USDT attach fills these (see <bpf/usdt.bpf.h>).
            let u32 = ValueType.scalar(ScalarType.table["u32"]!), s64 = ValueType.scalar(ScalarType.table["s64"]!)
            language.maps[Lowering.usdtSpecsMap] = MapDecl(name: Lowering.usdtSpecsMap, kind: "array", key: u32, value: .chars(Lowering.usdtSpecSize), maxEntries: 256, flags: nil, line: 1)
            language.maps[Lowering.usdtIPMap] = MapDecl(name: Lowering.usdtIPMap, kind: "hash", key: s64, value: u32, maxEntries: 1024, flags: nil, line: 1)
            language.mapOrder += [Lowering.usdtSpecsMap, Lowering.usdtIPMap]
        }
        let object = ObjectFile(license: declarations.license, programs: programs, stringLiterals: strings.bytes,
                                btf: ProgramBTFSpec(functions: functions, kernelBTFPath: options.btfPath,
                                                    localTypes: core.localTypes() + language.structs.keys.sorted().map { language.cType(.structure($0)) }),
                                sourcePath: path, sourceLines: lines, maps: language.objectMaps(), variables: language.objectVariables())
        let bytes: [UInt8]
        do { bytes = try ObjectWriter.write(object) } catch {
            throw CompileFailure.internalError("writing the object: \(error)")
        }
        return CompiledObject(bytes: bytes, object: object, dumps: dumps,
                              manifest: Manifest(declarations: declarations, language: language, records: records.byMap))
    }

    /// Compiles the file at `path`.
    public static func compile(path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Diagnostic(file: path, line: 1, column: 1, message: "cannot read \(path)", hint: "check the path and its permissions")
        }
        return try compile(source: text, path: path, options: options)
    }
}
