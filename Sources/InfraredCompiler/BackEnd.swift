import BPF
import Dispatch
import Synchronization
import InfraredObject

/// One program as the front end leaves it: lowered IR and what the back end
/// needs from the kernel's BTF, read beforehand (the back end reads nothing).
struct LoweredProgram {
    var declaration: ProgramDeclaration
    var ir: IRFunction
    var contextType: ProgramBTFSpec.CType
    /// The values an LSM hook may return, from its prototype.
    var lsmRange: ClosedRange<Int64>?
}

/// Stages 4 and 5 of one program: the passes, the checks, instruction
/// selection, register allocation and emission. A pure function of the
/// lowered program, so `Compiler.compile` runs programs on all cores.
enum BackEnd {
    struct Output {
        var code: Emission.Output
        var coreRelocations: [CoreRelocation]
        /// `--dump-after` listings, in pipeline order.
        var dumps: [String]
        /// Whether the program calls `trace_printk` (the loader then reads the trace pipe).
        var printk: Bool
        var timings: [(stage: String, seconds: Double)]
    }

    /// `trace_printk`'s number, looked up once (a lookup copies the prototype
    /// out of the table, and each program asked).
    private static let tracePrintk = HelperPrototype.named("trace_printk")!.id

    static func compile(_ program: LoweredProgram, path: String, lines: [String], options: CompileOptions) throws -> Output {
        var timer = StageTimer(on: options.timeReport)
        let decl = program.declaration
        var ir = program.ir
        var dumps: [String] = []
        if options.dumpAfter.contains("lower") { dumps.append("; after lower\n\(ir)") }
        for pass in Pass.pipeline {
            timer.start("pass " + pass.name)
            pass.run(&ir)
            timer.start(nil)
            if options.dumpAfter.contains(pass.name) { dumps.append("; after \(pass.name)\n\(ir)") }
        }
        let callsPrintk = ir.blocks.contains { $0.instructions.contains { if case .call(_, tracePrintk, _) = $0.0 { return true }; return false } }
        timer.start("checks")
        try Checks.run(ir, kind: decl.kind, path: path, lines: lines, lsmRange: program.lsmRange)
        timer.start("selection")
        let selected = Selection.select(ir)
        timer.start("register allocation")
        let allocated: MFunction
        do { allocated = try RegisterAllocation.allocate(selected) } catch let e as RegisterAllocation.Failure {
            throw Diagnostic(file: path, line: decl.line, column: 1, message: "program `\(decl.name)`: \(e.message)",
                             hint: "split the work into smaller programs or use fewer live values at once")
        }
        timer.start("emission")
        let code = Emission.emit(TailMerging.merge(allocated), firstLine: decl.line)
        guard code.instructions.count <= 1_000_000 else {
            throw Diagnostic(file: path, line: decl.line, column: 1, message: "program `\(decl.name)` is too large (\(code.instructions.count) instructions)", hint: nil)
        }
        let coreRelocations = code.core.map { (at, r) in
            var relocation = ir.coreRelocations[r]
            relocation.instruction = at
            return relocation
        }
        return Output(code: code, coreRelocations: coreRelocations, dumps: dumps, printk: callsPrintk, timings: timer.finish())
    }
}

/// Back ends running on libdispatch's pool while the front end lowers the
/// next program. Starting the pool costs more wall time than a few small
/// back ends share (two one-line programs built 9 % faster on one thread,
/// four 3 %, ten the same, a hundred 3–5 % slower), so jobs wait, unstarted,
/// until the programs submitted hold `poolThreshold` IR instructions; then
/// the pool starts on them and on every later one. `results()` runs the
/// jobs no pool thread has claimed yet on the calling thread (all of them
/// when the pool never started), then waits for the rest: the pool starts
/// one thread and adds others only milliseconds later, so a front end that
/// only waited left a core idle. Each job is claimed once and writes its own
/// slot; the group's wait orders those writes before the reads.
final class BackEndJobs: @unchecked Sendable {
    typealias Outcome = Result<BackEnd.Output, any Error>
    typealias Job = @Sendable () -> Outcome
    /// IR instructions submitted (summed over programs) past which the pool starts.
    static let poolThreshold = 400
    private let slots: UnsafeMutablePointer<Outcome?>
    private let capacity: Int
    private var submitted = 0
    private let group = DispatchGroup()
    private let inline: Bool
    /// The size of the programs submitted, until the pool starts (then nil).
    private var waiting: Int? = 0
    /// Whether the pool has started (the jobs submitted reached `poolThreshold`).
    var poolStarted: Bool { waiting == nil }
    /// The jobs submitted, and how many of them a thread has claimed.
    private let queue = Mutex<(jobs: [Job?], claimed: Int)>(([], 0))

    /// `capacity` programs at most; with one, or not `parallel`, each runs
    /// where it is submitted.
    init(capacity: Int, parallel: Bool = true) {
        self.capacity = capacity
        inline = capacity < 2 || !parallel
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
    }
    deinit {
        group.wait()
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Adds `job` (a pure function: it touches nothing shared), the back
    /// end of a program of `size` IR instructions.
    func submit(size: Int, _ job: @escaping Job) {
        precondition(submitted < capacity)
        let i = submitted
        submitted += 1
        if inline { slots[i] = job(); return }
        queue.withLock { $0.jobs.append(job) }
        if let w = waiting {
            guard w + size >= Self.poolThreshold else { waiting = w + size; return }
            // The pool starts: a claim for each job waiting, this one's too.
            waiting = nil
            for _ in 0...i { DispatchQueue.global().async(group: group) { [self] in runNext() } }
        } else {
            DispatchQueue.global().async(group: group) { [self] in runNext() }
        }
    }

    /// Runs the first job no thread has claimed, if any; whether it did.
    @discardableResult
    private func runNext() -> Bool {
        guard let (i, job) = queue.withLock({ q -> (Int, Job)? in
            guard q.claimed < q.jobs.count else { return nil }
            let i = q.claimed
            q.claimed += 1
            defer { q.jobs[i] = nil }
            return (i, q.jobs[i]!)
        }) else { return false }
        slots[i] = job()
        return true
    }

    /// The outcomes, in submission order, once every job has finished.
    func results() -> [Outcome] {
        if !inline { while runNext() {} }
        group.wait()
        return (0..<submitted).map { slots[$0]! }
    }
}
