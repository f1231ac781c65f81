// libFuzzer harness: `JSONValue.parse` on arbitrary bytes, and a serialise/re-parse round trip of
// whatever parsed. Built by scripts/fuzz together with the sources of the SCIM module.
//
// A parse may fail only with `invalidSyntax` (or `invalidValue` for U+0000); a trap, a hang or a round trip that changes the
// document is a bug.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let value: JSONValue
    do {
        value = try JSONValue.parse(UnsafeBufferPointer(start: data, count: size))
    } catch {
        precondition(
            error.status == 400 && (error.scimType == .invalidSyntax || error.scimType == .invalidValue), "unexpected error \(error)")
        return 0
    }
    let bytes = value.serialized()
    do {
        let again = try JSONValue.parse(bytes)
        precondition(again == value, "round trip changed the document")
    } catch {
        preconditionFailure("serialised output does not re-parse: \(error)")
    }
    return 0
}
