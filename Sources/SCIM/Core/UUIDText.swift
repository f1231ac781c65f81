import Foundation

extension UUID {
    /// The lowercase `8-4-4-4-12` form that SCIM ids, `$ref`s and the admin API use (and Postgres
    /// prints). Written straight from the bytes: `uuidString.lowercased()` formatted the uppercase
    /// text and then copied it again, for every id of every response.
    public var lowercasedString: String {
        withUnsafeBytes(of: self.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { output in
                let digits: (UInt8) -> UInt8 = { $0 < 10 ? $0 + UInt8(ascii: "0") : $0 - 10 + UInt8(ascii: "a") }
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        output[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    output[position] = digits(byte >> 4)
                    output[position + 1] = digits(byte & 0x0F)
                    position += 2
                }
                return position
            }
        }
    }
}
