import ShoalStore

// Clients as the whole server sees them: CLIENT LIST lines.
extension ServerState {
    /// One CLIENT LIST line, with Redis 7's fields (buffers Shoal does not track per client read as 0).
    func describeClient(_ handle: ClientHandle, now: Milliseconds) -> String {
        let names = handle.names.withLock { $0 }
        let commandIndex = handle.lastCommand.load(ordering: .relaxed)
        let command =
            commandIndex >= 0 && commandIndex < commands.flattened.count
            ? commands.flattened[commandIndex].fullName : "NULL"
        let age = (now - handle.createdAt) / 1000
        let idle = max(0, now - handle.lastInteraction.load(ordering: .relaxed)) / 1000
        let queued = handle.queuedCommands.load(ordering: .relaxed)
        let channels = handle.channelCount.load(ordering: .relaxed)
        let patterns = handle.patternCount.load(ordering: .relaxed)
        let shardChannels = handle.shardChannelCount.load(ordering: .relaxed)
        let redirect = handle.trackingRedirect.load(ordering: .relaxed)
        let queryBuffer = handle.queryBuffer.load(ordering: .relaxed)
        let queryFree = handle.queryBufferFree.load(ordering: .relaxed)
        let pending = handle.outputPending.load(ordering: .relaxed)
        let capacity = handle.outputCapacity.load(ordering: .relaxed)
        // Redis's order of flag letters: P(ubsub), x (MULTI), b(locked), t(racking), R (broken redirect), B(CAST);
        // N for none.
        var flags = handle.isMonitor.load(ordering: .relaxed) ? "O" : ""
        if channels + patterns + shardChannels > 0 { flags += "P" }
        if queued >= 0 { flags += "x" }
        if handle.isBlocked.load(ordering: .relaxed) { flags += "b" }
        if redirect >= 0 { flags += "t" + handle.trackingLetters.withLock { $0 } }
        if flags.isEmpty { flags = "N" }
        return "id=\(handle.id) addr=\(handle.address) laddr=\(handle.localAddress) fd=\(handle.fd) name=\(names.name) "
            + "age=\(age) idle=\(idle) flags=\(flags) db=\(handle.database.load(ordering: .relaxed)) "
            + "sub=\(channels) psub=\(patterns) ssub=\(shardChannels) "
            + "multi=\(queued) qbuf=\(queryBuffer) qbuf-free=\(queryFree) argv-mem=0 multi-mem=0 rbs=\(queryBuffer + queryFree) "
            + "rbp=\(queryBuffer) obl=\(min(pending, 16384)) oll=\(pending > 16384 ? 1 : 0) omem=\(pending > 16384 ? capacity : 0) "
            + "tot-mem=\(queryBuffer + queryFree + capacity + 1024) "
            + "events=r cmd=\(command) user=default redir=\(redirect) resp=\(handle.protocolVersion.load(ordering: .relaxed)) "
            + "lib-name=\(names.libName) lib-ver=\(names.libVersion)\n"
    }
}
