"""Check digits of the identifiers Parley looks for: a number that fails its check is not masked (order numbers
and product codes of the same length stay readable)."""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def luhn_valid(digits: str) -> bool:
    """Payment card numbers (ISO/IEC 7812): the Luhn check over the digits, 13-19 of them."""
    numbers = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(numbers)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616: country code, two check digits, then the account; mod 97 of the rearranged number is 1."""
    iban = _NON_ALNUM.sub("", text).upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def fr_nir_valid(text: str) -> bool:
    """France's NIR (numéro de sécurité sociale): 13 characters (Corsica: 2A/2B as département) and a 2-digit
    key, 97 - (number mod 97)."""
    nir = _NON_ALNUM.sub("", text).upper()
    if len(nir) != 15:
        return False
    body, key = nir[:13], nir[13:]
    body = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    body = body.replace("2B", "18", 1) if body[5:7] == "2B" else body
    if not body.isdigit() or not key.isdigit():
        return False
    return 97 - int(body) % 97 == int(key)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_valid(text: str) -> bool:
    """Spain's DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter): the letter is number mod 23."""
    value = _NON_ALNUM.sub("", text).upper()
    if len(value) != 9:
        return False
    head = value[:-1]
    head = str("XYZ".index(head[0])) + head[1:] if head[0] in "XYZ" else head
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == value[-1]
