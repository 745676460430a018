import Foundation
import XCTest

/// Examples/SwiftPackage as a user builds it: `swift build` runs Infrared's
/// build-tool plugin (Plugins/InfraredSkeletonPlugin), which turns
/// `execcount.rb` into a typed Swift skeleton compiled into the tool; the
/// tool then loads, attaches and prints exactly the execs of one uid (typed
/// records from the async stream, then the per-name map).
final class SwiftPackagePluginTests: LoaderDirectoryTestCase {
    func testExampleSwiftPackageBuildsWithThePluginAndCountsExecs() throws {
        let package = LoaderSupport.packageRoot.appendingPathComponent("Examples/SwiftPackage")
        let scratch = dir.appendingPathComponent("build")
        let started = Date()
        let build = try LoaderSupport.run("/usr/bin/env", ["swift", "build", "--package-path", package.path, "--scratch-path", scratch.path])
        XCTAssertEqual(build.status, 0, build.stdout + build.stderr)
        print("Examples/SwiftPackage: swift build took \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertTrue(build.stdout.contains("Infrared skeleton for execcount.rb"), "the plugin ran: \(build.stdout)")

        let tool = ToolProcess(scratch.appendingPathComponent("debug/execcount").path, ["--uid", "65534", "--records", "4"], cwd: dir)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("execcount: attached", timeout: 60), tool.stderr)
        // Four execs as uid 65534 (counted), one as root (not).
        for _ in 0..<4 {
            let r = try LoaderSupport.run("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/true"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        _ = try LoaderSupport.run("/bin/true", [])
        XCTAssertEqual(tool.wait(timeout: 30), 0, tool.stderr)
        let lines = tool.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5, tool.stdout)
        XCTAssertEqual(lines.prefix(4).filter { $0.hasPrefix("exec pid=") && $0.hasSuffix(" uid=65534 comm=true") }.count, 4, tool.stdout)
        XCTAssertEqual(lines.last, "true 4", tool.stdout)
    }
}
