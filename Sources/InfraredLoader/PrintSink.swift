import InfraredObject

/// Prints the lines of the bodies' `puts` and `printf`, and stops the tool
/// at `exit`: the records of the object's implicit ring buffer
/// (`PrintOutput`), each a format id and the values in their slots.
///
/// Text output writes each formatted record as it is (a `printf` without
/// `\n` continues the line, as in C); `--format json` writes one
/// `{"line": "…"}` object per record, its final newline dropped.
final class PrintSink {
    /// Each format's pieces, parsed once, and its argument slots.
    private let formats: [(pieces: [PrintFormat.Piece], arguments: [PrintFormat.Argument], size: Int)]
    unowned(unsafe) let session: LoaderSession
    let out: Output
    let json: Bool
    /// True after an `exit` record: later records (other CPUs, the drain
    /// at the end) are not printed.
    private(set) var exited = false

    init(output: PrintOutput, session: LoaderSession) {
        formats = output.formats.map { f in
            ((try? PrintFormat.parse(f.format)) ?? [.text(f.format)], f.arguments, f.size)
        }
        self.session = session; out = session.out; json = session.options.format == .json
    }

    /// One record, in place (valid during the call only).
    func consume(_ p: UnsafeRawBufferPointer) {
        guard !exited, p.count >= 8 else { return }
        let id = p.loadUnaligned(as: UInt64.self)
        if id == PrintOutput.exitID {
            exited = true
            session.stopping = true
            return
        }
        guard id < UInt64(formats.count) else { return }
        let f = formats[Int(id)]
        guard p.count >= f.size else { return }
        let line = Self.format(f.pieces, f.arguments, p)
        if json {
            out.line("{\"line\":" + JSON.quoted(line.hasSuffix("\n") ? String(line.dropLast()) : line) + "}")
        } else {
            out.write(line)
        }
    }

    /// The record's line: each conversion takes the next argument's slot.
    static func format(_ pieces: [PrintFormat.Piece], _ arguments: [PrintFormat.Argument], _ p: UnsafeRawBufferPointer) -> String {
        var s = "", next = 0
        for piece in pieces {
            switch piece {
            case .text(let t): s += t
            case .conversion(let c):
                guard next < arguments.count else { continue }
                let a = arguments[next]
                next += 1
                switch a.type {
                case .integer:
                    s += c.render(p.loadUnaligned(fromByteOffset: a.offset, as: Int64.self))
                case .boolean:
                    s += c.render(p.loadUnaligned(fromByteOffset: a.offset, as: Int64.self) != 0 ? "true" : "false")
                case .string:
                    let slot = UnsafeRawBufferPointer(rebasing: p[a.offset..<a.offset + a.size])
                    let n = slot.firstIndex(of: 0) ?? slot.count
                    s += c.render(String(decoding: UnsafeRawBufferPointer(rebasing: slot[0..<n]), as: UTF8.self))
                }
            }
        }
        return s
    }
}
