#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BPF
import InfraredBTF
import InfraredObject
import InfraredSupport

/// Options of one compilation.
public struct CompileOptions: Sendable {
    /// Kernel BTF used for context layouts and (later) CO-RE: raw BTF or ELF with `.BTF`.
    public var btfPath: String = KernelBTF.defaultPath
    /// Pass names after which the IR is printed to `dump` (`--dump-after`).
    public var dumpAfter: Set<String> = []
    /// Measure each stage (`--time-report`): `CompiledObject.timings`.
    public var timeReport = false
    /// Programs' back ends on all cores (false: one after another, where
    /// each is lowered; tests compare the two).
    var parallelBackEnds = true
    /// Every frame through the register-kind analysis before it is lowered
    /// (false: frames whose jumps all go forward are lowered in one pass;
    /// tests compare the two).
    var analyseEveryFrame = false
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
    /// Wall time of each stage when `CompileOptions.timeReport` is set, in
    /// order; the back-end stages summed over the programs, which run on
    /// several cores at once.
    public var timings: [(stage: String, seconds: Double)] = []
    /// Wall time of the whole compilation when `CompileOptions.timeReport` is set.
    public var wallSeconds: Double = 0
}

/// Wall-clock stage timer for `--time-report`; does nothing when off.
/// `start(stage)` charges the time since the previous call to the stage then
/// running (repeated stages add up) and makes `stage` the running one; nil
/// runs untimed work (IR dumps).
struct StageTimer {
    let on: Bool
    let clock = ContinuousClock()
    var last: ContinuousClock.Instant
    private(set) var current: String? = nil
    private var entries: [(stage: String, seconds: Double)] = []
    init(on: Bool) { self.on = on; last = clock.now }
    /// Starts timing `stage` (nil: none), ending the running one. The name
    /// is made only when timing is on (`"pass " + name` for each pass of
    /// every program was 1 % of a build of 100 small programs).
    mutating func start(_ stage: @autoclosure () -> String?) {
        guard on else { return }
        let now = clock.now
        if let current { charge(current, Self.seconds(now - last)) }
        last = now
        current = stage()
    }
    /// Adds stages timed elsewhere (a program's back end, on another thread).
    mutating func add(_ timings: [(stage: String, seconds: Double)]) {
        guard on else { return }
        for (stage, s) in timings { charge(stage, s) }
    }
    private mutating func charge(_ stage: String, _ s: Double) {
        if let i = entries.firstIndex(where: { $0.stage == stage }) { entries[i].seconds += s } else { entries.append((stage, s)) }
    }
    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
    /// Ends the running stage; the stages in the order they first ran.
    mutating func finish() -> [(stage: String, seconds: Double)] {
        start(nil)
        return entries
    }
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
    ///   3. each program body's irep is lowered to IR (Frontend/Lowering)
    ///   4. the optimisation passes run (Passes/)
    ///   5. instruction selection, register allocation, emission (Codegen/)
    ///   6. the object is written: ELF, .BTF, .BTF.ext (InfraredObject)
    public static func compile(source: String, path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        var timer = StageTimer(on: options.timeReport)
        let started = ContinuousClock.now
        let lines = sourceLines(source)
        timer.start("mruby open")
        let session = try MRubySession()
        timer.start("mruby prelude")
        try session.loadPrelude()
        timer.start("mruby compile + top level")
        try session.load(source, path: path)
        timer.start("mruby fold check")
        try MRubyFoldCheck.check(session: session, path: path, sourceLines: lines)
        timer.start("declarations")
        let declarations = try Declarations(session: session, path: path, sourceLines: lines)
        guard !declarations.programs.isEmpty else {
            throw Diagnostic(file: path, line: 1, column: 1, message: "the file declares no program",
                             hint: "declare one, e.g. `xdp do |ctx| … end`, or in the seed form `section! \"cgroup/dev\"` before a `def`")
        }
        var kernel: KernelBTF? = nil
        func kernelBTF() throws -> KernelBTF {
            if let kernel { return kernel }
            let running = timer.current
            timer.start("kernel BTF open")
            defer { timer.start(running) }
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
        let implicitMaps = ImplicitMaps()
        var tracepointLayouts: [String: (ContextLayout?, ProgramBTFSpec.CType)] = [:]
        // Stage 3, in declaration order: lowering reads the mruby session and
        // fills the shared records (strings, CO-RE types, output formats).
        // Stages 4 and 5 touch nothing shared: each program's back end runs
        // on another core as soon as it is lowered.
        var lowered: [(declaration: ProgramDeclaration, contextType: ProgramBTFSpec.CType)] = []   // the IR goes to the back end only
        var loweringFailure: (any Error)? = nil
        let backEnds = BackEndJobs(capacity: declarations.programs.count, parallel: options.parallelBackEnds)
        for decl in declarations.programs {
            do {
                // The context: the seed form's class, or what the kernel passes this program type.
                timer.start("context layout")
                // Many programs on one tracepoint read its format once.
                let layout: ContextLayout?, contextType: ProgramBTFSpec.CType
                if decl.kind.declaration == "tracepoint", decl.seedContext == nil, let known = tracepointLayouts[decl.section] {
                    (layout, contextType) = known
                } else {
                    (layout, contextType) = try ContextLayouts.layout(for: decl, btf: kernelBTF, path: path, sourceLines: lines)
                    if decl.kind.declaration == "tracepoint", decl.seedContext == nil { tracepointLayouts[decl.section] = (layout, contextType) }
                }
                timer.start("lower")
                let lowering = Lowering(session: session, path: path, sourceLines: lines, declaration: decl, context: layout, strings: strings,
                                        language: declarations.language, functions: declarations.functions, core: core, records: records, implicitMaps: implicitMaps,
                                        kernelBTF: kernelBTF, analyseEveryFrame: options.analyseEveryFrame)
                var (ir, pool) = try lowering.lower()
                strings = pool
                ir.readOnlyVariables = Set(declarations.language.paramOrder)
                timer.start("checks")
                var lsmRange: ClosedRange<Int64>? = nil
                if decl.kind.declaration == "lsm", let proto = try kernelBTF().functionPrototype(named: "bpf_lsm_" + decl.section.dropFirst("lsm/".count)) {
                    lsmRange = Checks.lsmReturnRange(returnTypeSize: proto.returnTypeID == 0 ? nil : try kernelBTF().resolve(proto.returnTypeID).size)
                }
                let program = LoweredProgram(declaration: decl, ir: ir, contextType: contextType, lsmRange: lsmRange)
                lowered.append((decl, contextType))
                timer.start(nil)
                backEnds.submit(size: ir.instructionCount) { Result { try BackEnd.compile(program, path: path, lines: lines, options: options) } }
            } catch {
                loweringFailure = error
                break
            }
        }
        timer.start(nil)
        // The first error in declaration order, as if one program at a time.
        for (program, result) in zip(lowered, backEnds.results()) {
            let out = try result.get()
            let decl = program.declaration
            dumps += out.dumps
            if out.printk { records.output.printk = true }
            timer.add(out.timings)
            timer.start("object model")
            functions.append(.init(name: decl.name, returnType: .int(name: "int", size: 4, signed: true),
                                   parameters: [(name: "ctx", type: program.contextType)]))
            programs.append(ProgramSection(name: decl.name, section: decl.section, instructions: out.code.instructions,
                                           relocations: out.code.relocations, lines: out.code.lines, function: functions.count - 1,
                                           coreRelocations: out.coreRelocations))
        }
        if let loweringFailure { throw loweringFailure }
        var language = declarations.language
        let aggregations = try implicitMaps.declare(in: &language, path: path)
        if declarations.programs.contains(where: { $0.kind.declaration == "usdt" }) {
            // libbpf's USDT attach fills these (see <bpf/usdt.bpf.h>).
            let u32 = ValueType.scalar(.u32), s64 = ValueType.scalar(.s64)
            language.maps[Lowering.usdtSpecsMap] = MapDecl(name: Lowering.usdtSpecsMap, kind: .array, key: u32, value: .chars(Lowering.usdtSpecSize), maxEntries: 256, flags: nil, line: 1)
            language.maps[Lowering.usdtIPMap] = MapDecl(name: Lowering.usdtIPMap, kind: .hash, key: s64, value: u32, maxEntries: 1024, flags: nil, line: 1)
            language.mapOrder += [Lowering.usdtSpecsMap, Lowering.usdtIPMap]
        }
        if records.output.used {
            // The implicit ring buffer of `puts`/`printf`/`exit` (Print.swift).
            language.maps[PrintOutput.mapName] = MapDecl(name: PrintOutput.mapName, kind: .ringbuf, key: nil, value: nil, maxEntries: 256 * 1024, flags: nil, line: 1)
            language.mapOrder.append(PrintOutput.mapName)
        }
        // Programs, maps, params and globals are symbols of one ELF object:
        // a program may not take a name the data already has.
        var symbols: [String: String] = [:]
        for n in language.mapOrder { symbols[n] = aggregations[n] != nil ? "the implicit map `@\(n)`" : "the map `\(n)`" }
        for n in language.paramOrder { symbols[n] = "the param `\(n)`" }
        for n in language.globalOrder { symbols[n] = "the global `\(n)`" }
        for decl in declarations.programs {
            if let other = symbols[decl.name] {
                throw Diagnostic(file: path, line: decl.declarationLine, column: 1, message: "program `\(decl.name)` has the name of \(other)",
                                 hint: "programs, maps, params and globals share the object's symbol names: give the program another with `name: \"...\"`")
            }
        }
        let object = ObjectFile(license: declarations.license, programs: programs, stringLiterals: strings.bytes,
                                btf: ProgramBTFSpec(functions: functions, kernelBTFPath: options.btfPath,
                                                    localTypes: core.localTypes() + language.structs.keys.sorted().map { language.cType(.structure($0)) }),
                                sourcePath: path, sourceLines: lines, maps: language.objectMaps(), variables: language.objectVariables() + faultCounters(records.faults))
        timer.start("ELF + BTF writing")
        let written: WrittenObject
        do { written = try ObjectWriter.written(object, kernelBTF: kernel) } catch {
            throw CompileFailure.internalError("writing the object: \(error)")
        }
        timer.start("manifest")
        var manifest = try Manifest(declarations: declarations, language: language, records: records.byMap,
                                    output: records.output.used ? PrintOutput(map: PrintOutput.mapName, formats: records.output.formats) : nil,
                                    implicit: aggregations,
                                    placements: written.placements)
        if records.output.printk { manifest.printk = true }
        if !records.faults.isEmpty {
            guard let at = written.placements[Fault.variableName], at.section == DataVariable.Section.bss.rawValue else {
                throw CompileFailure.internalError("the object writer did not place \(Fault.variableName) in .bss")
            }
            manifest.faults = records.faults.map { var f = $0; f.offset = at.offset + 8 * f.slot; return f }
        }
        return CompiledObject(bytes: written.bytes, object: object, dumps: dumps, manifest: manifest, timings: timer.finish(),
                              wallSeconds: StageTimer.seconds(ContinuousClock.now - started))
    }

    /// The fault counters (Maps.swift `incrementFault`): one zeroed `u64`
    /// per fault site kind and map, as one `.bss` array; none without faults.
    static func faultCounters(_ faults: [Fault]) -> [DataVariable] {
        guard !faults.isEmpty else { return [] }
        let u64 = ProgramBTFSpec.CType.int(name: ScalarType.u64.cName, size: 8, signed: false)
        return [DataVariable(name: Fault.variableName, type: .array(u64, count: faults.count), section: .bss,
                             initialValue: [UInt8](filled: 0, count: 8 * faults.count))]
    }

    /// Compiles the file at `path`.
    public static func compile(path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        try compile(source: try source(path: path), path: path, options: options)
    }

    /// The text of the probe file at `path`; a file that cannot be read or
    /// is not UTF-8 is a diagnostic at `path:1:1` (what `build`, `run` and
    /// `gen loader` say alike).
    public static func source(path: String) throws -> String {
        let bytes: [UInt8]
        do { bytes = try readFile(path) } catch {
            throw Diagnostic(file: path, line: 1, column: 1, message: "cannot read \(path): \((error as? BTFFormatError)?.message ?? "\(error)")",
                             hint: "check the path and its permissions")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Diagnostic(file: path, line: 1, column: 1, message: "\(path) is not UTF-8 text", hint: "save the probe file as UTF-8")
        }
        return text
    }
}

/// The source's lines: split at each LF byte, a CR before it dropped (a
/// file saved with CR LF line ends has the lines of its LF copy; mruby
/// counts lines by LF too). Split by Character before, a CR LF file was one
/// line ("\r\n" is one Character, not "\n"): its line info failed to
/// write and its diagnostics pointed at column 1. The split by bytes is
/// also cheaper: finding each Character's bounds was 2 % of the build of
/// a file of 100 programs.
func sourceLines(_ source: String) -> [String] {
    source.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
        String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
    }
}
