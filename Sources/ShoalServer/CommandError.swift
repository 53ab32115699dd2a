/// A command's failure. `text` is the whole error line after `-`, starting with its code (`ERR`, `WRONGTYPE`,
/// `NOAUTH`, ...). The dispatcher turns it into a reply in exactly one place; the common texts are made once
/// here, word for word as Redis sends them, because clients match on them.
public struct CommandError: Error, Equatable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public var description: String { text }

    /// The code before the first space (`ERR`, `WRONGTYPE`...), for errorstats.
    public var code: String { String(text.prefix { $0 != " " }) }

    public static let syntax = CommandError("ERR syntax error")
    public static let wrongType = CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    public static let notInteger = CommandError("ERR value is not an integer or out of range")
    public static let notFloat = CommandError("ERR value is not a valid float")
    public static let overflow = CommandError("ERR increment or decrement would overflow")
    public static let noSuchKey = CommandError("ERR no such key")
    public static let dbIndexOutOfRange = CommandError("ERR DB index is out of range")
    public static let sameObject = CommandError("ERR source and destination objects are the same")
    public static let noAuth = CommandError("NOAUTH Authentication required.")
    public static let wrongPass = CommandError("WRONGPASS invalid username-password pair or user is disabled.")
    public static let invalidCursor = CommandError("ERR invalid cursor")
    public static let outOfMemory = CommandError("OOM command not allowed when used memory > 'maxmemory'.")
    public static let stringTooLong = CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")

    public static let busyShutdown = CommandError(
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")

    public static let ssubscribeInMulti = CommandError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")

    public static func subscribedContext(_ name: String) -> CommandError {
        CommandError(
            "ERR Can't execute '\(name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    }

    public static func wrongArity(_ name: String) -> CommandError {
        CommandError("ERR wrong number of arguments for '\(name)' command")
    }

    /// Redis's addReplySubcommandSyntaxError: the subcommand as typed, the container in capitals.
    public static func subcommandSyntax(_ subcommand: String, of command: String) -> CommandError {
        CommandError(
            "ERR unknown subcommand or wrong number of arguments for '\(subcommand.prefix(128))'. Try \(command.uppercased()) HELP.")
    }

    public static func invalidExpire(_ name: String) -> CommandError {
        CommandError("ERR invalid expire time in '\(name)' command")
    }

    public static func unknownSubcommand(_ subcommand: String, of command: String) -> CommandError {
        CommandError("ERR unknown subcommand '\(subcommand.prefix(128))'. Try \(command.uppercased()) HELP.")
    }

    // MARK: - The rest of Redis's texts (connection, keys, expiry, strings, server)

    public static let clientIDNotPositive = CommandError("ERR client-id should be greater than 0")
    public static let decrementOverflow = CommandError("ERR decrement would overflow")
    public static let gtAndLt = CommandError("ERR GT and LT options at the same time are not compatible")
    public static let invalidClientID = CommandError("ERR Invalid client ID")
    public static let invalidFirstDB = CommandError("ERR invalid first DB index")
    public static let invalidSecondDB = CommandError("ERR invalid second DB index")
    public static let noProto = CommandError("NOPROTO unsupported protocol version")
    public static let noShutdownInProgress = CommandError("ERR No shutdown in progress.")
    public static let noSuchClient = CommandError("ERR No such client")
    public static let notFinite = CommandError("ERR increment would produce NaN or Infinity")
    public static let nxWithOtherConditions = CommandError(
        "ERR NX and XX, GT or LT options at the same time are not compatible")
    public static let offsetOutOfRange = CommandError("ERR offset is out of range")
    public static let protocolVersionNotInteger = CommandError("ERR Protocol version is not an integer or out of range")
    public static let saveInProgress = CommandError("ERR Background save already in progress")
    public static let shutdownFailed = CommandError("ERR Errors trying to SHUTDOWN. Check logs.")

    // MARK: - Hashes and sets (t_hash.c, t_set.c)

    public static let hashValueNotInteger = CommandError("ERR hash value is not an integer")
    public static let hashValueNotFloat = CommandError("ERR hash value is not a float")
    public static let valueOutOfRange = CommandError("ERR value is out of range")
    public static let numkeysNotPositive = CommandError("ERR numkeys should be greater than 0")
    public static let numkeysTooLarge = CommandError("ERR Number of keys can't be greater than number of args")
    public static let limitNegative = CommandError("ERR LIMIT can't be negative")
    public static let countNotPositive = CommandError("ERR value is out of range, must be positive")

    public static func outOfRange(min: Int64, max: Int64) -> CommandError {
        CommandError("ERR value is out of range, value must between \(min) and \(max)")
    }

    public static func lfuNotSelected(_ note: String) -> CommandError {
        CommandError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. \(note)")
    }

    public static func lfuSelected(_ note: String) -> CommandError {
        CommandError("ERR An LFU maxmemory policy is selected, idle time not tracked. \(note)")
    }

    public static func configSetFailed(_ name: String, _ reason: String) -> CommandError {
        CommandError("ERR CONFIG SET failed (possibly related to argument '\(name)') - \(reason)")
    }

    public static func helloSyntax(_ option: String) -> CommandError {
        CommandError("ERR Syntax error in HELLO option '\(option)'")
    }

    public static func unknownClientType(_ type: String) -> CommandError {
        CommandError("ERR Unknown client type '\(type)'")
    }

    public static func configSetUnknownOption(_ option: String) -> CommandError {
        CommandError("ERR Unknown option or number of arguments for CONFIG SET - '\(option)'")
    }

    public static func unrecognizedOption(_ option: String) -> CommandError {
        CommandError("ERR Unrecognized option '\(option)'")
    }

    public static func unsupportedOption(_ option: String) -> CommandError {
        CommandError("ERR Unsupported option \(option)")
    }

    public static func unknownCommand(_ name: String, arguments described: String) -> CommandError {
        CommandError("ERR unknown command '\(name.prefix(128))', with args beginning with: \(described)")
    }

    public static func saveFailed(_ description: String) -> CommandError { CommandError("ERR \(description)") }

    // MARK: - Transactions (multi.c)

    public static let execAbort = CommandError("EXECABORT Transaction discarded because of previous errors.")
    public static let execWithoutMulti = CommandError("ERR EXEC without MULTI")
    public static let discardWithoutMulti = CommandError("ERR DISCARD without MULTI")
    public static let nestedMulti = CommandError("ERR MULTI calls can not be nested")
    public static let watchInsideMulti = CommandError("ERR WATCH inside MULTI is not allowed")

    /// EXEC refused as a whole for a reason found at EXEC time (OOM, MISCONF), as Redis's `execCommandAbort`.
    public static func execAborted(because error: CommandError) -> CommandError {
        CommandError("EXECABORT Transaction discarded because of: \(error.text)")
    }

    // MARK: - Persistence

    /// Redis's text for writes refused after a failed save.
    public static let misconf = CommandError(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands "
            + "that may modify the data set are disabled, because this instance is configured to report errors during "
            + "writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for "
            + "details about the RDB error.")

    // MARK: - Connections

    /// Redis 7's message for a non-loopback client when protected mode is on and no password is set.
    public static let protectedMode = CommandError(
        "DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
            + "for the default user. In this mode connections are only accepted from the loopback interface. If you "
            + "want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
            + "disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
            + "connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly "
            + "accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
            + "Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
            + "setting the protected mode option to 'no', and then restarting the server. 3) If you started the server "
            + "manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
            + "authentication password for the default user. NOTE: You only need to do one of the above things in "
            + "order for the server to start accepting connections from the outside.")
}
