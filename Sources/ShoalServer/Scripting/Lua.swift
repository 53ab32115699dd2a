import CLua
import CShoalLua

/// A thin view of one `lua_State` with the calls the engine uses. Outside a protected call only raw accesses
/// (no metamethods) and pushes are made, and the C side keeps allocations from failing there: nothing in here
/// can longjmp through Swift.
struct Lua {
    let state: OpaquePointer

    static let registry = shoal_lua_registry_index()
    static let globals = shoal_lua_globals_index()

    var top: Int32 {
        get { lua_gettop(state) }
        nonmutating set { lua_settop(state, newValue) }
    }

    /// A relative stack index as an absolute one (pseudo-indices stay).
    func absolute(_ index: Int32) -> Int32 { index < 0 && index > Lua.registry ? top + index + 1 : index }

    func pop(_ count: Int32 = 1) { lua_settop(state, -count - 1) }

    func type(at index: Int32) -> Int32 { lua_type(state, index) }

    func ensureStack(_ slots: Int32) -> Bool { lua_checkstack(state, slots) != 0 }

    // MARK: Pushing

    func push(_ bytes: UnsafeRawBufferPointer) {
        lua_pushlstring(state, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    func push(_ bytes: [UInt8]) { bytes.withUnsafeBytes { push($0) } }

    func push(_ text: String) {
        var text = text
        text.withUTF8 { push(UnsafeRawBufferPointer($0)) }
    }

    func push(_ number: Double) { lua_pushnumber(state, number) }
    func push(_ value: Bool) { lua_pushboolean(state, value ? 1 : 0) }
    func pushNil() { lua_pushnil(state) }
    func newTable(array: Int32 = 0, fields: Int32 = 0) { lua_createtable(state, array, fields) }
    func push(_ function: shoal_lua_host_function) { shoal_lua_push_host_function(state, function) }

    /// `table[name] = top` for the table at `index` (raw), popping the value.
    func setField(_ name: String, in index: Int32) {
        let absolute = self.absolute(index)
        push(name)
        lua_insert(state, -2)
        lua_rawset(state, absolute)
    }

    /// Pushes `table[name]` (raw) of the table at `index`.
    func getField(_ name: String, in index: Int32) {
        let absolute = self.absolute(index)
        push(name)
        lua_rawget(state, absolute)
    }

    /// `table[position] = top` (raw), popping the value.
    func setIndex(_ position: Int32, in index: Int32) { lua_rawseti(state, index, position) }

    func getIndex(_ position: Int32, in index: Int32) { lua_rawgeti(state, index, position) }

    // MARK: Reading

    /// The string (or number, as Lua formats it) at `index`, as bytes valid while the value stays on the stack.
    func bytes(at index: Int32) -> UnsafeRawBufferPointer? {
        var length = 0
        guard let pointer = lua_tolstring(state, index, &length) else { return nil }
        return UnsafeRawBufferPointer(start: pointer, count: length)
    }

    func string(at index: Int32) -> String? { bytes(at: index).map { String(decoding: $0, as: UTF8.self) } }

    func number(at index: Int32) -> Double { lua_tonumber(state, index) }
    func boolean(at index: Int32) -> Bool { lua_toboolean(state, index) != 0 }
}
