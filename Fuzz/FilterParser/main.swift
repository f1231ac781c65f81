// libFuzzer harness: `Filter.parse` and `PatchPath.parse` on arbitrary text, then in-memory
// evaluation of whatever parsed against a fixed user. Built by scripts/fuzz together with the
// sources of the SCIM module (no `import SCIM`: the files are compiled into this binary).
//
// A parse may fail only with `invalidFilter` / `invalidPath`; anything else, a trap or a hang is a bug.

private let user: JSONValue = {
    let text = #"""
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u-1","userName":"ada@acme.com",
         "name":{"givenName":"Ada","familyName":"Lovelace"},"active":true,"title":"Engineer",
         "emails":[{"value":"ada@acme.com","type":"work","primary":true},{"value":"ada@home.org","type":"home"}],
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","manager":{"value":"m-1"}},
         "meta":{"created":"2026-01-01T00:00:00Z","lastModified":"2026-01-02T00:00:00Z"}}
        """#
    return try! JSONValue.parse(Array(text.utf8))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let filter = try Filter.parse(text)
        _ = filter.matches(user)
        _ = filter.matches(user, caseExact: { _ in true })
    } catch {
        precondition(error.scimType == .invalidFilter && error.status == 400, "unexpected error \(error)")
    }
    do {
        _ = try PatchPath.parse(text)
    } catch {
        precondition(error.scimType == .invalidPath && error.status == 400, "unexpected error \(error)")
    }
    return 0
}
