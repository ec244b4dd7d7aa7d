public import Foundation

/// Files only their owner may read (mode 0600): secrets, private keys.
public enum PrivateFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes `data` to a temporary file of mode 0600 beside `url`, then renames it over `url`: the content is
    /// never readable by others, not even for a moment, and a crash leaves the old file whole.
    public static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "\(temporary.path) cannot be written (errno \(errno))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            unlink(temporary.path)
            throw Failure(description: "\(url.path) cannot be written: \(error)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw Failure(description: "\(url.path) cannot be replaced (errno \(errno))")
        }
    }
}
