import XCTest
@testable import InfraredCompiler

/// The register-kind analysis (Lowering/KindAnalysis.swift) lowers a block
/// again each time its entry kinds change. Two findings of
/// `MemoryDifferentialTests`, each a program the analysis got wrong because a
/// repeated visit differed from the first.
final class KindAnalysisTests: XCTestCase {
    /// The IR after the last pass, as `--dump-after` prints it.
    func finalIR(_ source: String) throws -> String {
        var options = CompileOptions()
        let last = Pass.pipeline.last!.name
        options.dumpAfter = [last]
        let compiled = try Compiler.compile(source: source, path: "kinds.rb", options: options)
        return compiled.dumps.last!
    }

    /// A lookup's pointer got a new id at each visit of its block, so a block
    /// reached twice (here after a loop) merged the pointer with itself into
    /// "a value of different types on different paths" and `w.value` did not compile.
    func testALookupKeepsItsPointerAcrossVisits() throws {
        let ir = try finalIR("""
        map :h, :hash, key: :u8, value: :s64, max_entries: 256
        tc :ingress do |ctx|
          i = 0
          while i < 3
            i += 1
          end
          w = h.lookup(cpu)
          w ? w.value : 1
        end
        """)
        XCTAssertTrue(ir.contains("call 1("), ir)          // map_lookup_elem
        XCTAssertTrue(ir.contains("load.s64 ["), ir)      // w.value
    }

    /// Each visit allocated its stack slots anew, so after enough visits one
    /// failed "stack exhausted" in the analysis (where errors wait for the
    /// kinds to settle), its successors counted as unreached, and the
    /// emission compiled them to `return 0`: the program below stopped
    /// halfway, before `out[15] = r`, and returned 0.
    func testRepeatedVisitsDoNotExhaustTheStack() throws {
        let ir = try finalIR("""
        param :p8, :u8, default: 200
        param :p16, :s16, default: -12345
        param :p32, :u32, default: 4000000000
        param :p64, :s64, default: -1234567890123
        struct :S do
          u8 :a
          s8 :e
          u16 :b
          s16 :f
          u32 :c
          s32 :g
          u64 :d
          s64 :h
        end
        map :arr, :array, value: :s64, max_entries: 8
        map :h, :hash, key: :u8, value: :s64, max_entries: 256
        map :hs, :hash, key: :u8, value: :S, max_entries: 256
        map :out, :array, value: :s64, max_entries: 25
        tc :ingress, name: "m15" do |ctx|
          a = ctx.len * -2 - 956
          b = ctx.len - 27
          c = 458
          r = ctx.len
          s = S.new
          t = S.new
          unless (((p16 / (ctx.len | 1)) | 1) <= -328)
            if !(((arr[cast(:iphdr, ctx.data + 34).tos] | 1) > (a >> 0)) || ((r | 1) <= (((arr[1] / (get_numa_node_id | 1)) < ((((r + p64) == (t.g + r)) ? b : arr[((-get_numa_node_id) & 7)]) | 1)) ? b : c)))
              arr[4] += a
            elsif ((cast(:iphdr, ctx.data + 27).frag_off | 1) > ((((-775 & 16777215) << 4) < ((h[8] / (r | 1)) | 1)) ? h[5] : a))
            end
            if (arr[1] >= ((p64 / (b | 1)) | 1))
              r = -255
            end
            arr[cast(:iphdr, ctx.data + 4).tos] += ((get_numa_node_id != ((((arr[5] >> 13) | 1) > c) ? c : r)) ? ctx.len : ((cast(:timespec64, ctx.data + 30).tv_sec * b) >> 41))
          end
          if ((-h[(((arr[((r - ctx.len) & 255)] & 16777215) << 16) & 255)]) != ((r & 16777215) << 8))
          elsif !((cast(:iphdr, ctx.data + 17).check % 3) == (h[((-1) & 255)] / 7))
            unless ((arr[2] * get_numa_node_id) == ((cast(:timespec64, ctx.data + 5).tv_nsec & 16777215) << 21))
              s.c = t.h
            end
          end
          out[15] = r
          r & 0xffffffff
        end
        """)
        XCTAssertFalse(ir.contains("ret 0"), ir)
        XCTAssertTrue(ir.contains("&map out"), ir)
    }

    /// A `times` block's assignment to a variable of the body did not reach
    /// the variable's kind: after `r = ctx.len` (non-negative) and
    /// `2.times { r = p16 }` (an s16, here negative), `r >> 11` shifted
    /// logically, and `(r >> 11) >> 61` gave 0 for -12345 instead of -1.
    func testATimesBlockAssignmentWidensTheVariable() throws {
        let ir = try finalIR("""
        param :p16, :s16, default: -12345
        map :out, :array, value: :s64, max_entries: 1
        tc :ingress do |ctx|
          r = ctx.len
          2.times do |j|
            r = p16
          end
          out[0] = (r >> 11) >> 61
          0
        end
        """)
        XCTAssertTrue(ir.contains("= ashr "), ir)
        XCTAssertFalse(ir.contains("= lshr "), ir)
    }
}
