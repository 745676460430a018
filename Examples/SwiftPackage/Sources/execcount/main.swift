// execcount: the execs of one user, from a probe written in Ruby
// (execcount.rb beside this file; Infrared's build-tool plugin generates the
// `Execcount` skeleton from it when the package builds).
//
//   execcount --uid UID [--records N]
//
// Prints each exec as it comes (an async stream of typed records), and after
// N records (default 10) the count per program name read from the map.
import Foundation
import InfraredRuntime

var uid: UInt32 = 0
var wanted = 10
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--uid": uid = UInt32(args.popFirst() ?? "") ?? 0
    case "--records": wanted = Int(args.popFirst() ?? "") ?? 10
    default:
        FileHandle.standardError.write("usage: execcount --uid UID [--records N]\n".data(using: .utf8)!)
        exit(2)
    }
}

do {
    var rodata = Execcount.Rodata()
    rodata.targetUid = uid                      // a typed param, set before load
    let tool = try Execcount.openAndLoad(rodata: rodata)
    defer { tool.destroy() }
    try tool.attach()
    FileHandle.standardError.write("execcount: attached\n".data(using: .utf8)!)
    var seen = 0
    for try await e in tool.maps.execs.records() {   // typed records (struct Exec)
        print("exec pid=\(e.pid) uid=\(e.uid) comm=\(e.comm)")
        seen += 1
        if seen == wanted { break }
    }
    for (comm, n) in try tool.maps.byComm.entries().sorted(by: { $0.key < $1.key }) {
        print("\(comm) \(n)")
    }
} catch {
    FileHandle.standardError.write("execcount: \(error)\n".data(using: .utf8)!)
    exit(1)
}
