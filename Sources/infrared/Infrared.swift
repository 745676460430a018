import ArgumentParser
import CLinkedLibraries
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// `infrared`: compile Ruby probe files to BPF and run them.
@main
struct Infrared: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infrared",
        abstract: "Write Linux BPF programs in Ruby.",
        subcommands: [Build.self, Disasm.self, BTFCommand.self, Run.self, List.self, Gen.self]
    )

    /// `infrared build` in its usual forms skips the argument parser (see
    /// `Build.quickParse`); everything else goes through it.
    static func main() {
        LinkedSymbols.register { infrared_linked_symbol($0).map { UnsafeRawPointer($0) } }
        if let build = Build.quickParse(Array(CommandLine.arguments.dropFirst())) {
            do { try build() } catch let e as ExitCode {
                Glibc.exit(e.rawValue)
            } catch {
                exit(withError: error)
            }
            Glibc.exit(0)
        }
        main(nil)
    }
}

/// Writes all of `bytes` to a file descriptor (stdout, stderr): the CLI
/// uses FoundationEssentials only, which has no `FileHandle`.
func writeAll(_ fd: Int32, _ bytes: some Collection<UInt8>) {
    var buffer = Array(bytes)
    var done = 0
    while done < buffer.count {
        let n = buffer.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        done += n
    }
    buffer.removeAll()
}

func writeStandardOutput(_ text: String) { writeAll(STDOUT_FILENO, Array(text.utf8)) }
func writeStandardError(_ text: String) { writeAll(STDERR_FILENO, Array(text.utf8)) }
