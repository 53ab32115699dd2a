#if canImport(Glibc)
    import Glibc
#endif

#if SHOAL_LIBFUZZER
    /// libFuzzer's driver (FuzzerDriver.cpp): parses libFuzzer's flags and calls `callback` with each input.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// The executable's entry point under SwiftPM (it links `main` to `<module>_main`): hands control to
    /// libFuzzer. `SHOAL_FUZZ_TARGET` picks the target (parser, commands).
    @_cdecl("shoal_fuzz_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
            let target = getenv("SHOAL_FUZZ_TARGET").map { String(cString: $0) } ?? "parser"
            FuzzTargets.run(target: target, UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
    }
#else
    /// Without libFuzzer: `shoal-fuzz replay <parser|commands> FILE...` runs each file once through the target,
    /// as the test suite does with the committed corpus (Fuzz/corpus/).
    @main
    struct ReplayMain {
        static func main() {
            let arguments = CommandLine.arguments
            guard arguments.count >= 3, arguments[1] == "replay" else {
                printError("usage: shoal-fuzz replay <parser|commands> FILE...")
                exit(2)
            }
            var count = 0
            for path in arguments.dropFirst(3) {
                guard let file = fopen(path, "rb") else {
                    printError("shoal-fuzz: cannot open \(path)")
                    exit(1)
                }
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let read = fread(&chunk, 1, chunk.count, file)
                    if read <= 0 { break }
                    bytes += chunk[0..<read]
                }
                fclose(file)
                bytes.withUnsafeBytes { FuzzTargets.run(target: arguments[2], $0) }
                count += 1
            }
            print("shoal-fuzz: \(count) inputs through the \(arguments[2]) target, no failure")
        }
    }
#endif
