"""Whether an ECDSA public point is one OpenSSH accepts, in plain Python integers.

OpenSSH decodes the point of an ``ecdsa-sha2-nistp*`` key with OpenSSL and then checks it
(``sshkey_ec_validate_public``): uncompressed form only, on the curve, not the point at
infinity, both coordinates longer than half the order in bits and below ``order - 1``,
and of the order of the group. The NIST curves have cofactor 1, so every point on the
curve other than infinity has the group's order; that check needs no multiplication.
The curve parameters are those of FIPS 186-4 (SEC 2 secp256r1, secp384r1, secp521r1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Curve:
    """A short Weierstrass curve ``y^2 = x^3 - 3x + b`` over the prime field ``p``, with
    the order ``n`` of its group."""

    p: int
    b: int
    n: int

    @property
    def coordinate_bytes(self) -> int:
        return (self.p.bit_length() + 7) // 8

    @property
    def point_bytes(self) -> int:
        """Length of an uncompressed point: ``04 || x || y``."""
        return 1 + 2 * self.coordinate_bytes


CURVES = {
    "nistp256": Curve(
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "nistp384": Curve(
        p=int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE"
            "FFFFFFFF0000000000000000FFFFFFFF",
            16,
        ),
        b=int(
            "B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875A"
            "C656398D8A2ED19D2A85C8EDD3EC2AEF",
            16,
        ),
        n=int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
            "581A0DB248B0A77AECEC196ACCC52973",
            16,
        ),
    ),
    "nistp521": Curve(
        p=(1 << 521) - 1,
        b=int(
            "0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
            "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B50"
            "3F00",
            16,
        ),
        n=int(
            "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E9138"
            "6409",
            16,
        ),
    ),
}


def point_problem(curve_name: str, point: bytes) -> str | None:
    """Why OpenSSH would refuse ``point`` (SEC 1 octets) as a public key on the named
    curve, or None when it would accept it. ``curve_name`` must be a key of CURVES."""
    curve = CURVES[curve_name]
    if not point or point[0] != 0x04:
        return "malformed ECDSA public point: not in uncompressed form (04 || x || y)"
    if len(point) != curve.point_bytes:
        return (
            f"malformed ECDSA public point: {len(point)} bytes, "
            f"{curve.point_bytes} expected on {curve_name}"
        )
    size = curve.coordinate_bytes
    x = int.from_bytes(point[1 : 1 + size], "big")
    y = int.from_bytes(point[1 + size :], "big")
    if x >= curve.p or y >= curve.p or (y * y - (x * x * x - 3 * x + curve.b)) % curve.p:
        return f"the ECDSA public point is not on the {curve_name} curve"
    half = curve.n.bit_length() // 2
    if x.bit_length() <= half or y.bit_length() <= half or x >= curve.n - 1 or y >= curve.n - 1:
        # OpenSSH's own bounds on the coordinates, beyond being on the curve
        return f"the ECDSA public point is out of the range OpenSSH accepts on {curve_name}"
    return None
