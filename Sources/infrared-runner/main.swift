// The prebuilt loader: `infrared gen loader` copies this executable and
// appends a probe (see InfraredPayload/Payload.swift for the format). It
// reads the payload from its own file, checks its CRC-32, and runs the
// loader with its command line.
import InfraredLoader
import InfraredPayload
#if canImport(Glibc)
import Glibc
#endif

// Termination signals are blocked before anything else happens, so a
// Ctrl-C at any moment of start-up is seen between two steps.
StartupTrace.mark("main")
let signals = Loader.blockTerminationSignals()
let arguments = CommandLine.arguments
let tool = arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "infrared-loader"

let probe: LoaderProbe
do {
    let payload = try LoaderPayload.read(executable: "/proc/self/exe")
    StartupTrace.mark("payload")
    probe = try LoaderProbe(payload: payload)
    StartupTrace.mark("manifest")
} catch {
    var message = Array("\(tool): error: \(error)\n".utf8)
    message.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}
// The tool goes by its own name (metrics, load errors), not the probe file's.
exit(Loader.run(probe: probe, arguments: Array(arguments.dropFirst()), toolName: tool, name: tool, signals: signals))
