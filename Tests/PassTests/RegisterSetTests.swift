import XCTest
import DifferentialSupport
@testable import InfraredCompiler

/// `RegisterSet` keeps up to `inlineCapacity` members in the value and more
/// in an array: every operation is checked against `Set<Int>` on random
/// sequences over a few register numbers, so that sets cross that boundary
/// both ways (insert past it, remove back under it, unions and liveness
/// steps that grow or shrink across it).
final class RegisterSetTests: XCTestCase {
    func check(_ s: RegisterSet, _ model: Set<Int>, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Array(s.ids), model.sorted(), what, file: file, line: line)
        XCTAssertEqual(s.count, model.count, what, file: file, line: line)
        XCTAssertEqual(s.sorted().map(\.id), model.sorted(), what, file: file, line: line)
        for id in 0..<14 { XCTAssertEqual(s.contains(VReg(id: id)), model.contains(id), "\(what): contains \(id)", file: file, line: line) }
    }

    func randomSet(_ g: inout SplitMix64) -> (RegisterSet, Set<Int>) {
        let members = Set((0..<Int.random(in: 0...9, using: &g)).map { _ in Int.random(in: 0..<12, using: &g) })
        return (RegisterSet(members: Array(members)), members)
    }

    func testOperationsMatchASetAcrossTheInlineCapacity() {
        var g = SplitMix64(seed: 19)   // fixed: the same cases on every run
        var crossedUp = 0, crossedDown = 0
        for round in 0..<3000 {
            var (s, model) = randomSet(&g)
            check(s, model, "round \(round): made")
            for step in 0..<12 {
                let before = model.count
                let id = Int.random(in: 0..<12, using: &g)
                switch Int.random(in: 0..<5, using: &g) {
                case 0: s.insert(VReg(id: id)); model.insert(id)
                case 1: s.remove(VReg(id: id)); model.remove(id)
                case 2:
                    let (o, m) = randomSet(&g)
                    s.formUnion(o); model.formUnion(m)
                case 3:
                    let extra = (0..<Int.random(in: 0...3, using: &g)).map { _ in VReg(id: Int.random(in: 0..<12, using: &g)) }
                    s = s.union(extra); model.formUnion(extra.map(\.id))
                default:
                    // A liveness step: (s − defs) ∪ uses.
                    let defs = Set((0..<Int.random(in: 0...4, using: &g)).map { _ in Int.random(in: 0..<12, using: &g) }).sorted()
                    let uses = Set((0..<Int.random(in: 0...4, using: &g)).map { _ in Int.random(in: 0..<12, using: &g) }).sorted()
                    s = defs.withUnsafeBufferPointer { d in uses.withUnsafeBufferPointer { u in s.subtracting(d, adding: u) } }
                    model.subtract(defs); model.formUnion(uses)
                }
                if before <= RegisterSet.inlineCapacity && model.count > RegisterSet.inlineCapacity { crossedUp += 1 }
                if before > RegisterSet.inlineCapacity && model.count <= RegisterSet.inlineCapacity { crossedDown += 1 }
                check(s, model, "round \(round), step \(step)")
                // Equality by members, whichever way each side keeps them.
                let rebuilt = RegisterSet(members: Array(model))
                XCTAssertEqual(s, rebuilt, "round \(round), step \(step): equal to the same members made afresh")
                var other = model
                if let any = other.first { other.remove(any) } else { other.insert(5) }
                XCTAssertNotEqual(s, RegisterSet(members: Array(other)), "round \(round), step \(step): unequal to other members")
            }
        }
        // The sequences cross the boundary both ways, many times: the
        // counts of this seed's sequences, exactly.
        XCTAssertEqual(crossedUp, 2394)
        XCTAssertEqual(crossedDown, 603)
    }
}
