import Foundation
import XCTest
@testable import InfraredLoader
import InfraredPayload
import InfraredRuntime

/// `gen loader --embed-btf`: the archive, the choice of BTF at start, and
/// loaders run here with this kernel's BTF hidden (an empty file bound over
/// /sys/kernel/btf/vmlinux in a private mount namespace, as a kernel without
/// BTF looks to libbpf). The kernel matrix (Scripts/vmtest.sh) runs the same
/// loaders across kernels whose layouts differ.
final class EmbedBTFTests: LoaderDirectoryTestCase {
    static let fixtures = ["6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"]

    func testArchiveRoundTripsSortedEntries() throws {
        let e = EmbeddedBTF(entries: [.init(release: "b", btf: [1, 2, 3]), .init(release: "a", btf: Array(repeating: 7, count: 5000))])
        let archive = try e.archive()
        XCTAssertEqual(Array(archive.prefix(4)), [0x28, 0xb5, 0x2f, 0xfd], "one zstd frame")
        XCTAssertLessThan(archive.count, 100, "5,000 equal bytes compress")
        let back = try EmbeddedBTF(archive: archive)
        XCTAssertEqual(back.releases, ["a", "b"])
        XCTAssertEqual(back.btf(release: "b"), [1, 2, 3])
        XCTAssertNil(back.btf(release: "c"))
        XCTAssertThrowsError(try EmbeddedBTF(archive: Array(archive.dropLast(3))))
    }

    func testChoiceFollowsTheContractsOrder() throws {
        XCTAssertEqual(try BTFChoice.choose(btfOption: "/x.btf", kernelHasBTF: false, release: "r", embedded: ["q"]), .file("/x.btf"))
        XCTAssertEqual(try BTFChoice.choose(btfOption: nil, kernelHasBTF: true, release: "r", embedded: ["q"]), .kernel)
        XCTAssertEqual(try BTFChoice.choose(btfOption: nil, kernelHasBTF: false, release: "r", embedded: ["q", "r"]), .embedded(release: "r"))
        XCTAssertEqual(try BTFChoice.choose(btfOption: nil, kernelHasBTF: false, release: "r", embedded: []), .none)
        XCTAssertThrowsError(try BTFChoice.choose(btfOption: nil, kernelHasBTF: false, release: "r", embedded: ["p", "q"])) {
            XCTAssertEqual("\($0)", "this kernel (r) has no BTF (/sys/kernel/btf/vmlinux), and BTF is embedded only for p, q; "
                + "embed this kernel's BTF too (`--embed-btf RELEASE.btf` when building), or pass --btf FILE")
        }
    }

    /// execsnoop built with the fixtures' BTF (a directory) and this
    /// kernel's (a file named by its release).
    func loader(embedding inputs: [String]) throws -> (tool: String, result: LoaderSupport.Result) {
        let tool = dir.appendingPathComponent("execsnoop").path
        let source = LoaderSupport.packageRoot.appendingPathComponent("Examples/execsnoop.rb").path
        let r = try LoaderSupport.run(try LoaderSupport.infrared(),
                                      ["gen", "loader", source, "-o", tool, "--runner", try LoaderSupport.runner()]
                                        + inputs.flatMap { ["--embed-btf", $0] })
        return (tool, r)
    }

    func release() -> String { BTFChoice.runningRelease() }

    /// This kernel's BTF in `dir`, named as BTFHub names files: RELEASE.btf.
    func ownBTF() throws -> String {
        let path = dir.appendingPathComponent("\(release()).btf").path
        try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux")).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs `tool ARGS` with the kernel's BTF hidden; once it has attached,
    /// the shell runs /bin/true, then stops the tool. Returns the tool's
    /// output and status, and the shell's pid (the parent of that exec).
    func runHidden(_ tool: String, _ args: [String] = []) throws -> (status: Int32, stdout: String, stderr: String, shell: Int) {
        let empty = dir.appendingPathComponent("empty").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        let out = dir.appendingPathComponent("out").path, err = dir.appendingPathComponent("err").path
        let script = """
            mount --bind \(empty) /sys/kernel/btf/vmlinux || exit 97
            [ -s /sys/kernel/btf/vmlinux ] && exit 98
            \(tool) \(args.joined(separator: " ")) >\(out) 2>\(err) &
            t=$!
            i=0
            while ! grep -q attached \(err) && kill -0 $t 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
            /bin/true
            echo $$
            sleep 0.5
            kill -INT $t 2>/dev/null
            wait $t
            echo $?
            """
        let r = try LoaderSupport.run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script])
        XCTAssertEqual(r.status, 0, "namespace script: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stdout)
        return (Int32(lines.last.map(String.init) ?? "") ?? -1,
                (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                Int(lines.first.map(String.init) ?? "") ?? -1)
    }

    /// The exec of /bin/true by the shell: its line has the shell as parent,
    /// which only a right CO-RE relocation of task_struct's parent reads.
    func assertExecOfTrue(_ out: String, parent shell: Int, file: StaticString = #filePath, line: UInt = #line) {
        let rows = out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        let trues = rows.filter { $0.count >= 5 && $0[4] == "/bin/true" }
        XCTAssertEqual(trues.count, 1, out, file: file, line: line)
        XCTAssertEqual(trues.first?[1], String(shell), "ppid of /bin/true: \(out)", file: file, line: line)
    }

    func testEmbeddedBTFOfThisReleaseRelocatesWithTheKernelsHidden() throws {
        let fixtures = LoaderSupport.packageRoot.appendingPathComponent("BTF").path
        let (tool, build) = try loader(embedding: [fixtures, try ownBTF()])
        XCTAssertEqual(build.status, 0, build.stderr)
        let payload = try LoaderPayload.read(executable: tool)
        XCTAssertEqual(try EmbeddedBTF(archive: payload.embeddedBTF).releases, (Self.fixtures + [release()]).sorted())
        let r = try runHidden(tool)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("attached"), r.stderr)
        assertExecOfTrue(r.stdout, parent: r.shell)
    }

    func testOnlyOtherKernelsBTFExitsNamingTheReleases() throws {
        let fixtures = LoaderSupport.packageRoot.appendingPathComponent("BTF").path
        let (tool, build) = try loader(embedding: [fixtures])
        XCTAssertEqual(build.status, 0, build.stderr)
        let r = try runHidden(tool)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("this kernel (\(release())) has no BTF"), r.stderr)
        XCTAssertTrue(r.stderr.contains("embedded only for \(Self.fixtures.joined(separator: ", "))"), r.stderr)
        XCTAssertFalse(r.stderr.contains("attached"), r.stderr)
        XCTAssertEqual(r.stdout, "")
        // --btf wins over the embedded ones.
        let withFile = try runHidden(tool, ["--btf", try ownBTF()])
        XCTAssertEqual(withFile.status, 0, withFile.stderr)
        assertExecOfTrue(withFile.stdout, parent: withFile.shell)
    }

    func testKernelsOwnBTFWinsOverEmbedded() throws {
        // Only the fixtures embedded, the kernel's BTF visible: the tool runs on the kernel's own.
        let fixtures = LoaderSupport.packageRoot.appendingPathComponent("BTF").path
        let (tool, build) = try loader(embedding: [fixtures])
        XCTAssertEqual(build.status, 0, build.stderr)
        let p = ToolProcess(tool, ["--duration", "30"])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 60), 0, p.stderr)
    }

    func testBadInputsAreErrorsAndWriteNothing() throws {
        let tool = dir.appendingPathComponent("execsnoop").path
        let (_, missing) = try loader(embedding: ["/nonexistent/6.1.btf"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "infrared: error: --embed-btf /nonexistent/6.1.btf: No such file or directory\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tool))

        let emptyDir = dir.appendingPathComponent("nobtf")
        try FileManager.default.createDirectory(at: emptyDir, withIntermediateDirectories: true)
        try "x".write(to: emptyDir.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let (_, none) = try loader(embedding: [emptyDir.path])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.hasPrefix("infrared: error: --embed-btf \(emptyDir.path): no kernel BTF in this directory"), none.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tool))

        let garbage = dir.appendingPathComponent("5.4.0-1-generic.btf").path
        try "not btf".write(toFile: garbage, atomically: true, encoding: .utf8)
        let (_, bad) = try loader(embedding: [garbage])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("infrared: error: --embed-btf \(garbage): neither raw BTF nor a kernel image"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tool))

        let twice = dir.appendingPathComponent("6.1.0-56-cloud-amd64.btf").path
        let fixture = LoaderSupport.packageRoot.appendingPathComponent("BTF/6.1.0-56-cloud-amd64.btf.xz").path
        XCTAssertEqual(try LoaderSupport.run("/bin/sh", ["-c", "xz -dc '\(fixture)' > '\(twice)'"]).status, 0)
        let (_, dup) = try loader(embedding: [fixture, twice])
        XCTAssertEqual(dup.status, 1)
        XCTAssertTrue(dup.stderr.contains("are both for kernel 6.1.0-56-cloud-amd64"), dup.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tool))
    }

    /// The C skeleton with `--embed-btf`: a program built on it finds its
    /// BTF by `uname -r` with the kernel's hidden, and reads each exec's
    /// parent right; embedding only other kernels' BTF, open fails with
    /// ENOENT and the message naming the releases.
    func testCSkeletonChoosesEmbeddedBTF() throws {
        let fixtures = LoaderSupport.packageRoot.appendingPathComponent("BTF").path
        let source = LoaderSupport.packageRoot.appendingPathComponent("Examples/execsnoop.rb").path
        let program = """
        #include <stdio.h>
        #include <string.h>
        #include <unistd.h>
        #include <sys/wait.h>
        #include <bpf/libbpf.h>
        #include "execsnoop.skel.h"

        struct event { unsigned int pid, ppid, uid; char comm[16]; char filename[128]; };
        static int right, wrong;
        static int on_event(void *ctx, void *data, size_t size) {
            const struct event *e = data;
            if (strcmp(e->filename, "/bin/true") == 0) { if (e->ppid == (unsigned)getpid()) right++; else wrong++; }
            return 0;
        }

        int main(void) {
            struct execsnoop *skel = execsnoop__open();
            if (!skel) { perror("open"); return 2; }
            if (execsnoop__load(skel)) { perror("load"); return 3; }
            if (execsnoop__attach(skel)) { perror("attach"); return 4; }
            struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
            for (int i = 0; i < 3; i++) {
                pid_t p = fork();
                if (p == 0) { execl("/bin/true", "true", NULL); _exit(127); }
                waitpid(p, NULL, 0);
            }
            ring_buffer__poll(rb, 200);
            printf("right=%d wrong=%d\\n", right, wrong);
            ring_buffer__free(rb);
            execsnoop__destroy(skel);
            return 0;
        }
        """
        let c = dir.appendingPathComponent("main.c")
        try program.write(to: c, atomically: true, encoding: .utf8)
        let empty = dir.appendingPathComponent("empty").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        func build(_ inputs: [String], _ exe: String) throws -> String {
            let gen = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "skel", source, "-o", dir.appendingPathComponent("execsnoop.skel.h").path]
                                                + inputs.flatMap { ["--embed-btf", $0] })
            XCTAssertEqual(gen.status, 0, gen.stderr)
            let path = dir.appendingPathComponent(exe).path
            let cc = try LoaderSupport.run("/usr/bin/gcc", ["-O2", "-Wall", "-Werror", "-I", dir.path, c.path, "-o", path, "-lbpf", "-lelf", "-lz"])
            XCTAssertEqual(cc.status, 0, cc.stderr)
            return path
        }
        func hidden(_ exe: String) throws -> LoaderSupport.Result {
            try LoaderSupport.run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount --bind \(empty) /sys/kernel/btf/vmlinux || exit 97; exec \(exe)"])
        }
        let mine = try build([fixtures, try ownBTF()], "mine")
        let ok = try hidden(mine)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "right=3 wrong=0\n", ok.stderr)
        let visible = try LoaderSupport.run(mine, [])
        XCTAssertEqual(visible.stdout, "right=3 wrong=0\n", visible.stderr)

        let others = try build([fixtures], "others")
        let refused = try hidden(others)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("execsnoop: this kernel (\(release())) has no BTF (/sys/kernel/btf/vmlinux), and BTF is embedded only for \(Self.fixtures.joined(separator: ", "));"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("open: No such file or directory"), refused.stderr)
        XCTAssertEqual(refused.stdout, "")
        XCTAssertEqual(try LoaderSupport.run(others, []).stdout, "right=3 wrong=0\n", "the kernel's own BTF when visible")
    }

    /// The Swift skeleton with `--embed-btf` carries the same minimal BTFs
    /// and opens through `BTFChoice.customPath` (the loaders' choice, run
    /// with the kernel's BTF hidden above); it typechecks against the
    /// runtime, and with the kernel's BTF visible the choice is the kernel's.
    func testSwiftSkeletonEmbedsAndChooses() throws {
        let fixtures = LoaderSupport.packageRoot.appendingPathComponent("BTF").path
        let source = LoaderSupport.packageRoot.appendingPathComponent("Examples/execsnoop.rb").path
        let swift = dir.appendingPathComponent("Execsnoop.swift").path
        let infrared = try LoaderSupport.infrared()
        let gen = try LoaderSupport.run(infrared, ["gen", "skel", source, "--lang", "swift", "-o", swift, "--embed-btf", fixtures])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let text = try String(contentsOfFile: swift, encoding: .utf8)
        XCTAssertTrue(text.contains("let btf = try btfCustomPath ?? BTFChoice.customPath(embedded: Self.embeddedBTF, name: Self.objectName)"), text)
        XCTAssertEqual(Self.fixtures.map { text.contains("        (\"\($0)\", [0x9f, 0xeb,") }, [true, true], "both releases' raw BTF")
        let modules = URL(fileURLWithPath: infrared).deletingLastPathComponent().appendingPathComponent("Modules").path
        let check = try LoaderSupport.run("/usr/bin/env", ["swiftc", "-typecheck", "-I", modules,
                                                          "-Xcc", "-fmodule-map-file=\(LoaderSupport.packageRoot.path)/Sources/CLibBPF/module.modulemap", swift])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertNil(try BTFChoice.customPath(embedded: [(release: "other", btf: [1])], name: "t"), "the kernel's own BTF")
        let plain = try LoaderSupport.run(infrared, ["gen", "skel", source, "--lang", "swift"])
        XCTAssertFalse(plain.stdout.contains("embeddedBTF"), "without --embed-btf the skeleton is as before")
    }
}
