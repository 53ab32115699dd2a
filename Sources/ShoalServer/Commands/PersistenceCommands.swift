import RESP
import ShoalStore

// Snapshot commands (Redis's rdb.c).

// MARK: - Handlers, one per command

func saveCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.server.snapshots.saveNow(reason: "SAVE", copy: ctx.store.pointInTimeCopy)
    ctx.out.ok()
}

func bgsaveCommand(_ ctx: CommandContext) throws(CommandError) {
    let scheduleIfBusy = ctx.args.count == 2 && ctx.args.matches(1, "SCHEDULE")
    guard ctx.args.count == 1 || scheduleIfBusy else { throw .syntax }
    switch ctx.server.snapshots.startBackgroundSave(reason: "BGSAVE") {
    case .started:
        ctx.out.simple("Background saving started")
    case .alreadyRunning where scheduleIfBusy:
        ctx.server.snapshots.schedule()
        ctx.out.simple("Background saving scheduled")
    case .alreadyRunning:
        throw .saveInProgress
    }
}

func lastsaveCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.server.snapshots.lastSaveTime.load(ordering: .relaxed))
}

// MARK: - The table: data that points at the handlers

let persistenceCommands: [Command] = [
    Command(
        "save", arity: 1, flags: [.admin, .noscript], group: "server",
        summary: "Synchronously saves the database(s) to disk.", complexity: "O(N)",
        handler: saveCommand),
    Command(
        "bgsave", arity: -1, flags: [.admin, .noscript], group: "server",
        summary: "Asynchronously saves the database(s) to disk.", complexity: "O(1)",
        handler: bgsaveCommand),
    Command(
        "lastsave", arity: 1, flags: [.loading, .stale, .fast], group: "server",
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        handler: lastsaveCommand),
]
