import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// An attach that fails because the kernel lacks the program kind names the
/// missing feature (KernelFeatures), instead of "attach point … does not
/// exist: ENOENT" for a function that is in /proc/kallsyms.
final class KernelFeatureErrorTests: XCTestCase {
    /// A fake sysfs/tracefs tree with `files` present.
    func tree(_ files: [String]) throws -> KernelFeatures {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-features-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        for f in files {
            let u = root.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("6\n".utf8).write(to: u)
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return KernelFeatures(root: root.path)
    }

    func testKprobeWithoutPMUOrKprobeEventsNamesIt() throws {
        let none = try tree([])
        let message = none.missingFeature(section: "kprobe/do_sys_openat2", errno: .noSuchFileOrDirectory)
        XCTAssertTrue(message?.contains("no kprobes") == true && message?.contains("/sys/bus/event_source/devices/kprobe") == true, "\(message ?? "nil")")
        XCTAssertNotNil(none.missingFeature(section: "kretprobe/do_sys_openat2", errno: .noSuchFileOrDirectory))
        XCTAssertNotNil(none.missingFeature(section: "uprobe//bin/sh:main", errno: .noSuchFileOrDirectory))
        XCTAssertNil(none.missingFeature(section: "tracepoint/sched/sched_process_exec", errno: .noSuchFileOrDirectory))
        XCTAssertNil(try tree(["sys/bus/event_source/devices/kprobe/type"]).missingFeature(section: "kprobe/f", errno: .noSuchFileOrDirectory),
                     "with a kprobe PMU, ENOENT is a missing function")
        XCTAssertNil(try tree(["sys/kernel/tracing/kprobe_events"]).missingFeature(section: "kprobe/f", errno: .noSuchFileOrDirectory),
                     "with legacy kprobe_events libbpf can attach")
    }

    func testFentryRefusedAsRootNamesTrampolines() throws {
        let none = try tree([])
        let message = none.missingFeature(section: "fentry/do_sys_openat2", errno: .notPermitted, privileged: true)
        XCTAssertTrue(message?.contains("no BPF trampolines") == true, "\(message ?? "nil")")
        XCTAssertNil(none.missingFeature(section: "fentry/do_sys_openat2", errno: .notPermitted, privileged: false),
                     "without privileges EPERM is a privilege error")
        XCTAssertNil(none.missingFeature(section: "fentry/do_sys_openat2", errno: .noSuchFileOrDirectory, privileged: true))
    }

    /// On this kernel: a kprobe on a function that is in /proc/kallsyms either
    /// attaches (kprobes present) or fails naming the missing kprobe support.
    func testKprobeAttachOnThisKernel() throws {
        try Support.requireBPF()
        let kallsyms = String(decoding: try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/kallsyms")).readDataToEndOfFile(), as: UTF8.self)   // procfs: size 0, read to the end
        XCTAssertTrue(kallsyms.contains(" do_sys_openat2\n"), "do_sys_openat2 is not in /proc/kallsyms")
        let compiled = try Compiler.compile(source: """
            license "GPL"
            map :calls, :array, key: :u32, value: :u64, max_entries: 1
            kprobe "do_sys_openat2" do |ctx|
              calls[0] += 1
              0
            end
            """, path: "kprobe.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        let fm = FileManager.default
        let hasKprobes = fm.fileExists(atPath: "/sys/bus/event_source/devices/kprobe/type")
            || fm.fileExists(atPath: "/sys/kernel/tracing/kprobe_events") || fm.fileExists(atPath: "/sys/kernel/debug/tracing/kprobe_events")
        do {
            try object.attach(program: "do_sys_openat2")
            XCTAssertTrue(hasKprobes, "attached although KernelFeatures sees no kprobe support")
        } catch let e as RuntimeError {
            XCTAssertFalse(hasKprobes, "this kernel has kprobes, yet: \(e)")
            guard case .kernelLacks = e else { return XCTFail("not .kernelLacks: \(e)") }
            XCTAssertTrue(e.description.hasPrefix("program 'do_sys_openat2': cannot attach 'kprobe/do_sys_openat2': this kernel has no kprobes"), e.description)
            XCTAssertTrue(e.description.contains("/sys/bus/event_source/devices/kprobe"), e.description)
        }
    }
}
