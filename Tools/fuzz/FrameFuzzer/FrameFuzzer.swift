// The fuzz targets for the frame decoder, the message decoders and the decompressor (FUZZ_TARGET=frames,
// messages or decompressor; default frames). Tools/fuzz/run.sh builds it with -sanitize=fuzzer and -DFUZZING, and
// `main` hands control to libFuzzer's driver. Built normally, it replays the files named on the command line, which
// is how a crashing input is reproduced.
import Foundation
import WireFuzzHarness

let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"].flatMap(WireFuzzHarness.Target.init) ?? .frames

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    WireFuzzHarness.run(target, UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt
#endif

@main
struct FrameFuzzer {
    static func main() {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv, fuzzOne))
        #else
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                    exit(2)
                }
                data.withUnsafeBytes { WireFuzzHarness.frames($0) }
                print("ok \(path)")
            }
        #endif
    }
}
