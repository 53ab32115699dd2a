import RESP
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

// GEO commands on sorted sets (Redis 7.0's geo.c and geohash.c): a member's score is its 52-bit geohash, so the
// arithmetic below follows Redis's step by step (same ranges, same interleaving, same rounding), and GEOPOS,
// GEODIST and the searches answer the same digits.

enum Geo {
    static let longitudeRange = (min: -180.0, max: 180.0)
    static let latitudeRange = (min: -85.05112878, max: 85.05112878)
    static let step = 26
    static let earthRadius = 6372797.560856

    /// Redis's interleave64: `latitude` bits in the even positions, `longitude` in the odd ones.
    static func interleave(_ latitude: UInt32, _ longitude: UInt32) -> UInt64 {
        func spread(_ value: UInt32) -> UInt64 {
            var x = UInt64(value)
            x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF
            x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
            x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
            x = (x | (x << 2)) & 0x3333_3333_3333_3333
            x = (x | (x << 1)) & 0x5555_5555_5555_5555
            return x
        }
        return spread(latitude) | (spread(longitude) << 1)
    }

    static func deinterleave(_ bits: UInt64) -> (latitude: UInt32, longitude: UInt32) {
        func squash(_ value: UInt64) -> UInt32 {
            var x = value & 0x5555_5555_5555_5555
            x = (x | (x >> 1)) & 0x3333_3333_3333_3333
            x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F
            x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF
            x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF
            x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
            return UInt32(x)
        }
        return (squash(bits), squash(bits >> 1))
    }

    /// geohashEncode over the given latitude range.
    static func encode(
        longitude: Double, latitude: Double, latitudeRange: (min: Double, max: Double) = Geo.latitudeRange
    ) -> UInt64 {
        var latitudeOffset = (latitude - latitudeRange.min) / (latitudeRange.max - latitudeRange.min)
        var longitudeOffset = (longitude - longitudeRange.min) / (longitudeRange.max - longitudeRange.min)
        latitudeOffset *= Double(UInt64(1) << UInt64(step))
        longitudeOffset *= Double(UInt64(1) << UInt64(step))
        return interleave(UInt32(latitudeOffset), UInt32(longitudeOffset))
    }

    /// geohashDecodeToLongLatWGS84: the center of the cell, clamped to the valid ranges.
    static func decode(_ bits: UInt64) -> (longitude: Double, latitude: Double) {
        let (latitudeCell, longitudeCell) = deinterleave(bits)
        let latitudeScale = latitudeRange.max - latitudeRange.min
        let longitudeScale = longitudeRange.max - longitudeRange.min
        let cells = Double(UInt64(1) << UInt64(step))
        let latitudeMin = latitudeRange.min + (Double(latitudeCell) * 1.0 / cells) * latitudeScale
        let latitudeMax = latitudeRange.min + ((Double(latitudeCell) + 1) * 1.0 / cells) * latitudeScale
        let longitudeMin = longitudeRange.min + (Double(longitudeCell) * 1.0 / cells) * longitudeScale
        let longitudeMax = longitudeRange.min + ((Double(longitudeCell) + 1) * 1.0 / cells) * longitudeScale
        var longitude = (longitudeMin + longitudeMax) / 2
        longitude = min(max(longitude, longitudeRange.min), longitudeRange.max)
        var latitude = (latitudeMin + latitudeMax) / 2
        latitude = min(max(latitude, latitudeRange.min), latitudeRange.max)
        return (longitude, latitude)
    }

    static func radians(_ degrees: Double) -> Double { degrees * (Double.pi / 180.0) }

    static func latitudeDistance(_ latitude1: Double, _ latitude2: Double) -> Double {
        earthRadius * abs(radians(latitude2) - radians(latitude1))
    }

    /// geohashGetDistance (haversine), with its shortcut for equal longitudes.
    static func distance(_ longitude1: Double, _ latitude1: Double, _ longitude2: Double, _ latitude2: Double) -> Double {
        let v = sin((radians(longitude2) - radians(longitude1)) / 2)
        if v == 0 { return latitudeDistance(latitude1, latitude2) }
        let latitude1r = radians(latitude1)
        let latitude2r = radians(latitude2)
        let u = sin((latitude2r - latitude1r) / 2)
        let a = u * u + cos(latitude1r) * cos(latitude2r) * v * v
        return 2.0 * earthRadius * asin(sqrt(a))
    }

    /// The standard 11-character geohash of a member's position (GEOHASH: re-encoded over latitudes ±90).
    static func hashString(_ bits: UInt64) -> String {
        let (longitude, latitude) = decode(bits)
        let standard = encode(longitude: longitude, latitude: latitude, latitudeRange: (-90, 90))
        let alphabet = Array("0123456789bcdefghjkmnpqrstuvwxyz")
        var text = ""
        for index in 0..<11 {
            let value = index == 10 ? 0 : Int((standard >> UInt64(52 - (index + 1) * 5)) & 0x1F)
            text.append(alphabet[value])
        }
        return text
    }

    /// Meters per unit, or the error Redis gives.
    static func unit(_ bytes: UnsafeRawBufferPointer) throws(CommandError) -> Double {
        switch String(decoding: bytes, as: UTF8.self).lowercased() {
        case "m": return 1
        case "km": return 1000
        case "ft": return 0.3048
        case "mi": return 1609.34
        default: throw CommandError("ERR unsupported unit provided. please use M, KM, FT, MI")
        }
    }
}

/// C's printf of `values` with `format` (`%f` of 1e308 is 309 digits: the buffer is sized for it).
func cFormat(_ format: String, _ values: [CVarArg]) -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 1024)
    let length = withVaList(values) { vsnprintf(&buffer, buffer.count, format, $0) }
    return buffer[..<min(max(0, Int(length)), buffer.count - 1)].map { UInt8(bitPattern: $0) }
}

extension ReplyBuffer {
    /// A distance as Redis's addReplyDoubleDistance: four decimals.
    mutating func distance(_ value: Double) { bulk(cFormat("%.4f", [value])) }

    /// A coordinate as addReplyHumanLongDouble.
    mutating func coordinate(_ value: Double) { bulk(formatLongDouble(LongDouble(value))) }
}

/// GEOADD's coordinates check (extractLongLatOrReply's wording, `%f` as C prints it).
func validCoordinates(_ longitude: Double, _ latitude: Double) throws(CommandError) {
    guard longitude >= Geo.longitudeRange.min, longitude <= Geo.longitudeRange.max,
        latitude >= Geo.latitudeRange.min, latitude <= Geo.latitudeRange.max
    else {
        let pair = String(decoding: cFormat("%f,%f", [longitude, latitude]), as: UTF8.self)
        throw CommandError("ERR invalid longitude,latitude pair \(pair)")
    }
}

func geoaddCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var nx = false
    var xx = false
    var ch = false
    var index = 2
    while index < args.count {
        if args.matches(index, "NX") {
            nx = true
        } else if args.matches(index, "XX") {
            xx = true
        } else if args.matches(index, "CH") {
            ch = true
        } else {
            break
        }
        index += 1
    }
    guard (args.count - index) % 3 == 0, args.count > index else { throw .syntax }
    if nx && xx { throw .xxAndNx }
    var entries: [(member: Int, score: Double)] = []
    for position in stride(from: index, to: args.count, by: 3) {
        guard let longitude = parseScore(args[position]), let latitude = parseScore(args[position + 1]) else {
            throw .notFloat
        }
        try validCoordinates(longitude, latitude)
        entries.append((position + 2, Double(Geo.encode(longitude: longitude, latitude: latitude))))
    }
    let outcome = try applyScores(ctx, entries, ZaddFlags(nx: nx, xx: xx))
    let result = ch ? outcome.added + outcome.changed : outcome.added
    ctx.noteDirty(result)
    ctx.out.integer(result)
}

func geodistCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 5 else { throw .syntax }
    let unit = args.count == 5 ? try Geo.unit(args[4]) : 1
    try ctx.readCollection(SortedSetValue.self) { zset in
        guard let zset, let first = zset.score(of: args[2]), let second = zset.score(of: args[3]) else {
            ctx.out.null()
            return
        }
        let a = Geo.decode(UInt64(first))
        let b = Geo.decode(UInt64(second))
        ctx.out.distance(Geo.distance(a.longitude, a.latitude, b.longitude, b.latitude) / unit)
    }
}

func geohashCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    try ctx.readCollection(SortedSetValue.self) { zset in
        ctx.out.arrayHeader(args.count - 2)
        for index in 2..<args.count {
            if let score = zset?.score(of: args[index]) { ctx.out.bulk(Geo.hashString(UInt64(score))) } else { ctx.out.null() }
        }
    }
}

func geoposCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    try ctx.readCollection(SortedSetValue.self) { zset in
        ctx.out.arrayHeader(args.count - 2)
        for index in 2..<args.count {
            guard let score = zset?.score(of: args[index]) else {
                ctx.out.nullArray()
                continue
            }
            let position = Geo.decode(UInt64(score))
            ctx.out.arrayHeader(2)
            ctx.out.coordinate(position.longitude)
            ctx.out.coordinate(position.latitude)
        }
    }
}

// MARK: - Searches

/// A parsed GEOSEARCH / GEORADIUS request (Redis's georadiusGeneric).
struct GeoSearch {
    enum Center {
        case member(Int)
        case point(longitude: Double, latitude: Double)
    }

    enum Shape {
        case radius(Double)
        case box(width: Double, height: Double)
    }

    var center: Center?
    var shape: Shape?
    var unit = 1.0
    var withDistance = false
    var withHash = false
    var withCoordinates = false
    var ascending: Bool?
    var count = 0
    var any = false
    var storeKey: Int?
    var storeDistances = false
}

/// A radius argument, with Redis's two texts (extractDistanceOrReply).
private func geoRadius(_ bytes: UnsafeRawBufferPointer) throws(CommandError) -> Double {
    guard let radius = parseScore(bytes) else { throw CommandError("ERR need numeric radius") }
    guard radius >= 0 else { throw CommandError("ERR radius cannot be negative") }
    return radius
}

/// Parses the options of the GEO search family. `flavor`: "georadius" (center and radius given before the
/// options), "georadiusbymember", "geosearch" (FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX among the options).
private func parseGeoSearch(
    _ ctx: CommandContext, flavor: String, keyIndex: Int, allowStore: Bool, zset: SortedSetValue?
) throws(CommandError) -> GeoSearch {
    func position(of memberIndex: Int) throws(CommandError) -> GeoSearch.Center {
        guard let score = zset?.score(of: ctx.args[memberIndex]) else {
            throw CommandError("ERR could not decode requested zset member")
        }
        let decoded = Geo.decode(UInt64(score))
        return .point(longitude: decoded.longitude, latitude: decoded.latitude)
    }
    let args = ctx.args
    var search = GeoSearch()
    var index: Int
    switch flavor {
    case "georadius":
        guard let longitude = parseScore(args[keyIndex + 1]), let latitude = parseScore(args[keyIndex + 2]) else {
            throw .notFloat
        }
        try validCoordinates(longitude, latitude)
        search.center = .point(longitude: longitude, latitude: latitude)
        let radius = try geoRadius(args[keyIndex + 3])
        search.unit = try Geo.unit(args[keyIndex + 4])
        search.shape = .radius(radius * search.unit)
        index = keyIndex + 5
    case "georadiusbymember":
        // Redis decodes the member first, unless the key is missing (then it goes on to report option errors).
        // and its radius: for a missing key neither is read (Redis goes on to report option errors only).
        if zset == nil {
            search.center = .member(keyIndex + 1)
            search.shape = .radius(0)
        } else {
            search.center = try position(of: keyIndex + 1)
            let radius = try geoRadius(args[keyIndex + 2])
            search.unit = try Geo.unit(args[keyIndex + 3])
            search.shape = .radius(radius * search.unit)
        }
        index = keyIndex + 4
    default:
        index = keyIndex + 1
    }
    let isSearch = flavor == "geosearch"
    while index < args.count {
        let left = args.count - index - 1
        if args.matches(index, "WITHDIST") {
            search.withDistance = true
        } else if args.matches(index, "WITHHASH") {
            search.withHash = true
        } else if args.matches(index, "WITHCOORD") {
            search.withCoordinates = true
        } else if args.matches(index, "ANY") {
            search.any = true
        } else if args.matches(index, "ASC") {
            search.ascending = true
        } else if args.matches(index, "DESC") {
            search.ascending = false
        } else if args.matches(index, "COUNT") && left >= 1 {
            let value = try args.integer(index + 1)
            guard value > 0 else { throw CommandError("ERR COUNT must be > 0") }
            search.count = Int(value)
            index += 1
        } else if allowStore && !isSearch && args.matches(index, "STORE") && left >= 1 {
            search.storeKey = index + 1
            search.storeDistances = false
            index += 1
        } else if allowStore && !isSearch && args.matches(index, "STOREDIST") && left >= 1 {
            search.storeKey = index + 1
            search.storeDistances = true
            index += 1
        } else if allowStore && isSearch && args.matches(index, "STOREDIST") {
            search.storeDistances = true
        } else if isSearch && args.matches(index, "FROMMEMBER") && left >= 1 && !hasCenter(search) {
            search.center = zset == nil ? .member(index + 1) : try position(of: index + 1)
            index += 1
        } else if isSearch && args.matches(index, "FROMLONLAT") && left >= 2 && !hasCenter(search) {
            guard let longitude = parseScore(args[index + 1]), let latitude = parseScore(args[index + 2]) else {
                throw .notFloat
            }
            try validCoordinates(longitude, latitude)
            search.center = .point(longitude: longitude, latitude: latitude)
            index += 2
        } else if isSearch && args.matches(index, "BYRADIUS") && left >= 2 && search.shape == nil {
            let radius = try geoRadius(args[index + 1])
            search.unit = try Geo.unit(args[index + 2])
            search.shape = .radius(radius * search.unit)
            index += 2
        } else if isSearch && args.matches(index, "BYBOX") && left >= 3 && search.shape == nil {
            guard let width = parseScore(args[index + 1]) else { throw CommandError("ERR need numeric width") }
            guard let height = parseScore(args[index + 2]) else { throw CommandError("ERR need numeric height") }
            guard width >= 0, height >= 0 else { throw CommandError("ERR height or width cannot be negative") }
            search.unit = try Geo.unit(args[index + 3])
            search.shape = .box(width: width * search.unit, height: height * search.unit)
            index += 3
        } else {
            throw .syntax
        }
        index += 1
    }
    if isSearch {
        guard search.center != nil else {
            throw CommandError("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for \(args.lowercased(0))")
        }
        guard search.shape != nil else {
            throw CommandError("ERR exactly one of BYRADIUS and BYBOX can be specified for \(args.lowercased(0))")
        }
    }
    if search.storeKey != nil || (isSearch && allowStore) {
        if search.withDistance || search.withHash || search.withCoordinates {
            throw CommandError(
                "ERR STORE option in \(args.lowercased(0)) is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
        }
    }
    if search.any && search.count == 0 {
        throw CommandError("ERR the ANY argument requires COUNT argument")
    }
    return search
}

private func hasCenter(_ search: GeoSearch) -> Bool { search.center != nil }

/// Where STORE or STOREDIST's key is, found before parsing so its shard can be locked with the source's.
private func geoStoreIndices(_ args: Arguments, from start: Int) -> [Int] {
    (start..<max(start, args.count - 1)).filter { args.matches($0, "STORE") || args.matches($0, "STOREDIST") }.map {
        $0 + 1
    }
}

/// The members within the shape, with distance (meters) and score, sorted as asked.
private func runGeoSearch(_ zset: SortedSetValue, _ search: GeoSearch, center: (longitude: Double, latitude: Double))
    -> [(member: [UInt8], distance: Double, score: Double)]
{
    var found: [(member: [UInt8], distance: Double, score: Double)] = []
    zset.forEach(from: 0) { _, member, score in
        let point = Geo.decode(UInt64(score))
        switch search.shape! {
        case .radius(let radius):
            let distance = Geo.distance(center.longitude, center.latitude, point.longitude, point.latitude)
            if distance <= radius { found.append((Array(member), distance, score)) }
        case .box(let width, let height):
            guard Geo.latitudeDistance(point.latitude, center.latitude) <= height / 2 else { return true }
            guard Geo.distance(point.longitude, point.latitude, center.longitude, point.latitude) <= width / 2 else {
                return true
            }
            found.append((Array(member), Geo.distance(center.longitude, center.latitude, point.longitude, point.latitude), score))
        }
        return !(search.any && search.count > 0 && found.count >= search.count)
    }
    var ascending = search.ascending
    if ascending == nil && search.count > 0 && !search.any { ascending = true }
    if let ascending {
        found.sort { ascending ? $0.distance < $1.distance : $0.distance > $1.distance }
    }
    if search.count > 0 && found.count > search.count { found = Array(found[..<search.count]) }
    return found
}

/// The whole search family: `flavor` as parseGeoSearch; `store`: GEOSEARCHSTORE (destination at 1).
private func geoSearch(_ ctx: CommandContext, flavor: String, readOnly: Bool, searchStore: Bool = false)
    throws(CommandError)
{
    let args = ctx.args
    let keyIndex = searchStore ? 2 : 1
    let source = args.key(keyIndex)
    let storeCandidates = searchStore ? [1] : readOnly ? [] : geoStoreIndices(args, from: keyIndex + 1)
    let limits = ctx.limits
    let hashes = [source.hash] + storeCandidates.map { args.key($0).hash }
    // Redis's order (georadiusGeneric): look the key up, then parse, then answer a missing key.
    let (search, results) = try ctx.store.withKeys(
        database: ctx.database, hashes: hashes, exclusive: !storeCandidates.isEmpty
    ) { group throws(CommandError) -> (GeoSearch, [(member: [UInt8], distance: Double, score: Double)]) in
        let zset = try group.readCollection(SortedSetValue.self, ctx.database, source, now: ctx.now)
        if zset == nil { ctx.notify(.keyMiss, "keymiss", source) }
        var search = try parseGeoSearch(ctx, flavor: flavor, keyIndex: keyIndex, allowStore: !readOnly, zset: zset)
        if searchStore { search.storeKey = 1 }
        var results: [(member: [UInt8], distance: Double, score: Double)] = []
        if let zset, case .point(let longitude, let latitude) = search.center! {
            results = runGeoSearch(zset, search, center: (longitude, latitude))
        }
        if let storeIndex = search.storeKey {
            let entries = results.map {
                (member: $0.member, score: search.storeDistances ? $0.distance / search.unit : $0.score)
            }
            group.store(
                entries.storedSortedSet(limits), at: args.key(storeIndex), database: ctx.database, now: ctx.now,
                server: ctx.server, .zset, args.matches(0, "geosearchstore") ? "geosearchstore" : "georadiusstore")
        }
        return (search, results)
    }
    if search.storeKey != nil {
        ctx.noteDirty()
        ctx.out.integer(results.count)
        return
    }
    let extras = (search.withDistance ? 1 : 0) + (search.withHash ? 1 : 0) + (search.withCoordinates ? 1 : 0)
    ctx.out.arrayHeader(results.count)
    for result in results {
        if extras > 0 { ctx.out.arrayHeader(1 + extras) }
        ctx.out.bulk(result.member)
        if search.withDistance { ctx.out.distance(result.distance / search.unit) }
        if search.withHash { ctx.out.integer(Int64(result.score)) }
        if search.withCoordinates {
            let position = Geo.decode(UInt64(result.score))
            ctx.out.arrayHeader(2)
            ctx.out.coordinate(position.longitude)
            ctx.out.coordinate(position.latitude)
        }
    }
}

func georadiusCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "georadius", readOnly: false)
}
func georadiusRoCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "georadius", readOnly: true)
}
func georadiusbymemberCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "georadiusbymember", readOnly: false)
}
func georadiusbymemberRoCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "georadiusbymember", readOnly: true)
}
func geosearchCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "geosearch", readOnly: true)
}
func geosearchstoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try geoSearch(ctx, flavor: "geosearch", readOnly: false, searchStore: true)
}

let geoCommands: [Command] = [
    Command(
        "geoadd", arity: -5, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "geo",
        summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        since: "3.2.0", complexity: "O(log(N)) for each item added", handler: geoaddCommand),
    Command(
        "geodist", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Returns the distance between two members of a geospatial index.", since: "3.2.0",
        complexity: "O(log(N))", handler: geodistCommand),
    Command(
        "geohash", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Returns members from a geospatial index as geohash strings.", since: "3.2.0",
        complexity: "O(log(N)) for each member requested", handler: geohashCommand),
    Command(
        "geopos", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Returns the longitude and latitude of members from a geospatial index.", since: "3.2.0",
        complexity: "O(N) where N is the number of members requested", handler: geoposCommand),
    Command(
        "georadius", arity: -6, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "geo",
        summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        since: "3.2.0", complexity: "O(N+log(M))", handler: georadiusCommand),
    Command(
        "georadius_ro", arity: -6, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Returns members from a geospatial index that are within a distance from a coordinate.",
        since: "3.2.10", complexity: "O(N+log(M))", handler: georadiusRoCommand),
    Command(
        "georadiusbymember", arity: -5, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "geo",
        summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        since: "3.2.0", complexity: "O(N+log(M))", handler: georadiusbymemberCommand),
    Command(
        "georadiusbymember_ro", arity: -5, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Returns members from a geospatial index that are within a distance from a member.",
        since: "3.2.10", complexity: "O(N+log(M))", handler: georadiusbymemberRoCommand),
    Command(
        "geosearch", arity: -7, flags: [.readonly], keys: (1, 1, 1), group: "geo",
        summary: "Queries a geospatial index for members inside an area of a box or a circle.", since: "6.2.0",
        complexity: "O(N+log(M))", handler: geosearchCommand),
    Command(
        "geosearchstore", arity: -8, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "geo",
        summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        since: "6.2.0", complexity: "O(N+log(M))", handler: geosearchstoreCommand),
]
