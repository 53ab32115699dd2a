import CLZ4

/// Compresses one standard LZ4 frame (4 MB blocks, content size and content checksum recorded, fastest
/// level), so `lz4 -d` can read the file and a damaged frame is detected by the frame itself.
func compressFrame(_ source: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(LZ4Failure) {
    var preferences = LZ4F_preferences_t()
    preferences.frameInfo.blockSizeID = LZ4F_max4MB
    preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
    preferences.frameInfo.contentSize = UInt64(source.count)
    let bound = LZ4F_compressFrameBound(source.count, &preferences)
    let start = output.count
    output.reserveCapacity(start + bound)
    var result = 0
    output.append(contentsOf: repeatElement(0, count: bound))
    output.withUnsafeMutableBytes { target in
        result = LZ4F_compressFrame(target.baseAddress! + start, bound, source.baseAddress, source.count, &preferences)
    }
    if LZ4F_isError(result) != 0 {
        output.removeSubrange(start...)
        throw LZ4Failure(String(cString: LZ4F_getErrorName(result)))
    }
    output.removeSubrange((start + result)...)
}

struct LZ4Failure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Decodes a file of concatenated LZ4 frames one frame at a time.
final class FrameDecoder {
    private var context: OpaquePointer?

    init() throws(LZ4Failure) {
        let result = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        if LZ4F_isError(result) != 0 { throw LZ4Failure(String(cString: LZ4F_getErrorName(result))) }
    }

    deinit { LZ4F_freeDecompressionContext(context) }

    /// Decompresses the frame that starts at `offset` into `output` (replacing its contents).
    /// - Returns: the offset just past the frame.
    func decodeFrame(
        _ file: UnsafeRawBufferPointer, at offset: Int, into output: inout [UInt8]
    ) throws(LZ4Failure) -> Int {
        output.removeAll(keepingCapacity: true)
        var position = offset
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            var produced = chunk.count
            var consumed = file.count - position
            let hint = chunk.withUnsafeMutableBytes { target in
                LZ4F_decompress(context, target.baseAddress, &produced, file.baseAddress! + position, &consumed, nil)
            }
            if LZ4F_isError(hint) != 0 {
                LZ4F_resetDecompressionContext(context)
                throw LZ4Failure(String(cString: LZ4F_getErrorName(hint)))
            }
            output.append(contentsOf: chunk[..<produced])
            position += consumed
            if hint == 0 { return position }
            if consumed == 0 && produced == 0 {
                LZ4F_resetDecompressionContext(context)
                throw LZ4Failure("truncated frame")
            }
        }
    }
}
