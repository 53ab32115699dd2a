/// Shoal's own version.
public let shoalVersion = "0.1.0"
/// The Redis version whose commands and replies Shoal follows; clients read it from INFO and HELLO.
public let redisCompatibilityVersion = "7.0.15"
