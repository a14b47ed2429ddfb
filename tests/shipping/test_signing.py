"""Signatures against the vendors' documented example values (PROTOCOLS.md §6.1, §6.2)."""

from fulfillment.shipping.carriers.kuaidi100 import callback_sign, label_sign, query_sign
from fulfillment.shipping.carriers.sf import msg_digest, sf_urlencode


def test_sf_msg_digest_matches_the_official_vector():
    msg_data = '{"language":"zh-CN","orderId":"QIAO-20200618-004"}'
    digest = msg_digest(msg_data, "12312334453453", "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci")
    assert digest == "IIKJtuLVzoFTu4kHI8M8vA=="
    # Without the URL-encoding step the digest is the documented wrong one.
    assert digest != "OwYXm3XG9fjHK7A+/t7Ckw=="


def test_sf_urlencode_is_javas_urlencoder():
    assert sf_urlencode("a b*~中") == "a+b*%7E%E4%B8%AD"


def test_kuaidi100_query_sign_matches_the_documented_example():
    param = '{"com":"yuantong","num":"YT0000000000"}'
    assert query_sign(param, "k", "C") == "F00ED6F0F1D32EDC10EC8C454F48510E"


def test_kuaidi100_label_and_callback_signs_are_upper_md5_of_the_concatenation():
    import hashlib

    assert label_sign("P", "1700000000000", "K", "S") == hashlib.md5(
        b"P1700000000000KS").hexdigest().upper()
    assert callback_sign("P", "salt") == hashlib.md5(b"Psalt").hexdigest().upper()
