#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex (what Foundation's `NSLock` and `NSRecursiveLock` wrap):
/// the modules a static loader links use FoundationEssentials only, so the
/// runner links no ICU (Makefile, `make runner`). The lock of
/// InfraredRuntime and InfraredLoader.
public final class PThreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    public init(recursive: Bool = false) {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        if recursive { pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE)) }
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }
    deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }
    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock(); defer { unlock() }
        return try body()
    }
}

/// A non-recursive mutex with a scoped helper.
typealias NSLockLite = PThreadMutex
