#if canImport(Glibc)
import Glibc
#endif
import InfraredSupport

/// Flame graphs from folded stacks (`comm;root;…;leaf COUNT`, what
/// flamegraph.pl and inferno read): one self-contained SVG a browser opens.
///
/// Each frame is a rectangle whose width is its share of the samples, the
/// root (`all`) at the bottom and callees stacked above their callers;
/// siblings with one name are merged and ordered by name, so the x axis is
/// not time. Labels are cut to fit their rectangle (`..` marks a cut), and
/// every frame has a tooltip (`<title>`): `name (N samples, P%)`. Frames
/// narrower than a tenth of a pixel are left out. Colours are warm (reds,
/// oranges, yellows), derived from the frame's name so one function keeps
/// its colour from graph to graph.
public enum FlameGraph {
    /// A frame laid out in sample units: it covers samples
    /// `[start, start + samples)` of the total, at `depth` (0 is `all`).
    public struct Frame: Equatable, Sendable {
        public var name: String
        public var depth: Int
        public var start: UInt64
        public var samples: UInt64
    }

    /// The geometry of the picture, in pixels.
    public struct Style: Sendable {
        public var width = 1200
        public var frameHeight = 16
        public var fontSize = 12.0
        /// Average glyph width as a fraction of the font size (for cutting labels).
        public var glyphWidth = 0.59
        public var padding = 10
        public var top = 40
        /// Frames narrower than this are not drawn.
        public var minimumWidth = 0.1
        public init() {}
    }

    /// Every frame, parents before children, siblings by name. Stacks are
    /// `;`-separated, root first; empty names are skipped; a stack with no
    /// frame counts for `all` only.
    public static func layout(_ folded: [(stack: String, count: UInt64)]) -> [Frame] {
        final class Node {
            var samples: UInt64 = 0
            var children: [String: Node] = [:]
        }
        let root = Node()
        for (stack, count) in folded where count > 0 {
            root.samples += count
            var node = root
            for name in stack.split(separator: ";") where !name.isEmpty {
                let key = String(name)
                let child = node.children[key] ?? Node()
                node.children[key] = child
                child.samples += count
                node = child
            }
        }
        var frames: [Frame] = []
        func visit(_ node: Node, name: String, depth: Int, start: UInt64) {
            frames.append(Frame(name: name, depth: depth, start: start, samples: node.samples))
            var x = start
            for key in node.children.keys.sorted() {
                let child = node.children[key]!
                visit(child, name: key, depth: depth + 1, start: x)
                x += child.samples
            }
        }
        visit(root, name: "all", depth: 0, start: 0)
        return frames
    }

    /// The SVG document for `folded`.
    public static func svg(_ folded: [(stack: String, count: UInt64)], title: String = "Flame Graph", style: Style = Style()) -> String {
        let frames = layout(folded)
        let total = max(frames.first?.samples ?? 0, 1)
        let scale = Double(style.width - 2 * style.padding) / Double(total)
        let drawn = frames.filter { Double($0.samples) * scale >= style.minimumWidth }
        let depth = (drawn.map(\.depth).max() ?? 0) + 1
        let height = style.top + depth * style.frameHeight + 2 * style.padding + Int(style.fontSize)
        let bottom = height - style.padding - Int(style.fontSize)
        var s = """
        <?xml version="1.0" encoding="UTF-8" standalone="no"?>
        <svg version="1.1" width="\(style.width)" height="\(height)" viewBox="0 0 \(style.width) \(height)" xmlns="http://www.w3.org/2000/svg">
        <defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0"><stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>
        <style>text { font-family: Verdana, sans-serif; font-size: \(format(style.fontSize))px; fill: #000; } g:hover rect { stroke: #000; stroke-width: 0.5; }</style>
        <rect x="0" y="0" width="\(style.width)" height="\(height)" fill="url(#background)"/>
        <text x="\(style.width / 2)" y="24" text-anchor="middle" style="font-size: 17px">\(escape(title))</text>
        <text x="\(style.padding)" y="\(height - style.padding / 2)">\(frames.first?.samples ?? 0) samples, \(frames.count - 1) frames; hover for counts</text>

        """
        for f in drawn {
            let x = Double(style.padding) + Double(f.start) * scale
            let w = Double(f.samples) * scale
            let y = bottom - (f.depth + 1) * style.frameHeight
            let percent = Double(f.samples) * 100 / Double(total)
            s += "<g><title>\(escape(f.name)) (\(f.samples) sample\(f.samples == 1 ? "" : "s"), \(format(percent))%)</title>"
            s += "<rect x=\"\(format(x))\" y=\"\(y)\" width=\"\(format(w))\" height=\"\(style.frameHeight - 1)\" fill=\"\(color(f.name))\" rx=\"2\" ry=\"2\"/>"
            let label = Self.label(f.name, width: w, style: style)
            if !label.isEmpty { s += "<text x=\"\(format(x + 3))\" y=\"\(y + style.frameHeight - 4)\">\(escape(label))</text>" }
            s += "</g>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// `name` cut to what fits in `width` pixels: whole, cut with `..`, or
    /// nothing when not even three characters fit.
    static func label(_ name: String, width: Double, style: Style) -> String {
        let fits = Int((width - 6) / (style.fontSize * style.glyphWidth))
        guard fits >= 3 else { return "" }
        let chars = Array(name)
        return chars.count <= fits ? name : String(chars.prefix(fits - 2)) + ".."
    }

    /// A warm colour for `name`: red fixed high, green and blue from a hash
    /// of the name (FNV-1a), so reds, oranges and yellows.
    static func color(_ name: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let r = 205 + Int(h % 51), g = Int((h >> 16) % 231), b = Int((h >> 40) % 56)
        return "rgb(\(r),\(g),\(b))"
    }

    static func format(_ d: Double) -> String {
        let scaled = (d * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }

    /// Text for XML: markup characters escaped, control characters (not allowed in XML 1.0) as `?`.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for u in text.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(u.value < 0x20 && u != "\t" || u.value == 0xfffe || u.value == 0xffff ? "?" : u)
            }
        }
        return out
    }

    /// Writes the SVG of `folded` to `path` atomically: a temporary file in
    /// the same directory, then rename(2), so `path` is either the whole
    /// graph or untouched.
    public static func write(_ folded: [(stack: String, count: UInt64)], to path: String, title: String = "Flame Graph") throws {
        try AtomicFile.write(Array(svg(folded, title: title).utf8), to: path, sync: true)
    }
}
