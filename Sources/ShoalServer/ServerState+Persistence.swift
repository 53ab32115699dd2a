import ShoalStore

// What the executable asks of snapshots through the server: save at shutdown, note a loaded snapshot.
extension ServerState {
    /// The executable's SIGTERM path: a synchronous save. False when it failed (the server keeps running).
    public func saveBeforeShutdown() -> Bool {
        do throws(CommandError) {
            try snapshots.saveNow(reason: "shutdown")
            return true
        } catch {
            logger.warning("\(error.text)")
            return false
        }
    }

    /// After a snapshot was loaded at start: it is what is on disk, so nothing is unsaved yet.
    public func markLoaded() {
        snapshots.lastSaveTime.store(currentTimeMilliseconds() / 1000, ordering: .relaxed)
    }
}
