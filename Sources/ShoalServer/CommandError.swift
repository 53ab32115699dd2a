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

    public static func wrongArity(_ name: String) -> CommandError {
        CommandError("ERR wrong number of arguments for '\(name)' command")
    }

    public static func invalidExpire(_ name: String) -> CommandError {
        CommandError("ERR invalid expire time in '\(name)' command")
    }

    public static func unknownSubcommand(_ subcommand: String, of command: String) -> CommandError {
        CommandError("ERR unknown subcommand '\(subcommand.prefix(128))'. Try \(command.uppercased()) HELP.")
    }
}
