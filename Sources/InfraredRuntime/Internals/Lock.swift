import Foundation

/// A non-recursive mutex with a scoped helper (Foundation's `NSLock`).
final class NSLockLite: @unchecked Sendable {
    private let lock = NSLock()
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }
}
