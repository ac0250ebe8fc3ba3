"""Body-size normalisations for SUV: lean body mass, ideal body weight, body surface area.

All functions are pure. Weight ``weight_kg`` in kg, height ``height_cm`` in cm, results in kg
(or m^2 for BSA). Formulas as collected in ``shared/reference/pet/SUV.md`` §1.4 (IBSI SUV manual,
z-rad, calculate-suv).

References
----------
Janmahasatian S et al. Quantification of lean bodyweight. Clin Pharmacokinet 2005;44:1051-65.
James WPT. Research on obesity. HMSO, 1976 (LBM 120/128 forms; DICOM SUVType LBMJAMES128).
Du Bois D, Du Bois EF. A formula to estimate the approximate surface area if height and weight be
known. Arch Intern Med 1916;17:863-71.
Devine BJ. Gentamicin therapy. Drug Intell Clin Pharm 1974;8:650-5 (ideal body weight).
"""

from __future__ import annotations

from typing import Literal

from theranostix.core.errors import InvalidInputError

SexArg = Literal["M", "F", "O"]


def _check(weight_kg: float | None, height_cm: float | None, what: str) -> tuple[float, float]:
    if weight_kg is None or not weight_kg > 0:
        raise InvalidInputError(
            f"{what} needs the patient weight (kg), got {weight_kg!r}",
            where="PatientWeight (0010,1030)", fix="supply the weight in kg.",
        )
    if height_cm is None or not height_cm > 0:
        raise InvalidInputError(
            f"{what} needs the patient height, got {height_cm!r}",
            where="PatientSize (0010,1020)", fix="supply the height (DICOM stores metres).",
        )
    return float(weight_kg), float(height_cm)


def _by_sex(male: float, female: float, sex: SexArg) -> float:
    """Male, female or (for 'O', as IBSI suggests) the mean of both formulas."""
    if sex == "M":
        return male
    if sex == "F":
        return female
    if sex == "O":
        return 0.5 * (male + female)
    raise InvalidInputError(f"sex must be M, F or O, got {sex!r}", where="PatientSex (0010,0040)")


def lbm_janmahasatian_kg(weight_kg: float, height_cm: float, sex: SexArg) -> float:
    """Lean body mass (kg), Janmahasatian 2005 (DICOM SUVType ``LBMJANMA``; used for SUL/PERCIST).

    ``9270 W / (6680 + 216 BMI)`` (male), ``9270 W / (8780 + 244 BMI)`` (female), BMI = W/H[m]^2.
    """
    w, h = _check(weight_kg, height_cm, "LBM (Janmahasatian)")
    bmi = w / (h / 100.0) ** 2
    return _by_sex(9270.0 * w / (6680.0 + 216.0 * bmi), 9270.0 * w / (8780.0 + 244.0 * bmi), sex)


def lbm_james_kg(weight_kg: float, height_cm: float, sex: SexArg, male_coefficient: float = 128.0) -> float:
    """Lean body mass (kg), James formula.

    ``1.10 W - c (W/H)^2`` (male, c = 128 for DICOM ``LBMJAMES128``; 120 for the Morgan form),
    ``1.07 W - 148 (W/H)^2`` (female); W in kg, H in cm.
    """
    w, h = _check(weight_kg, height_cm, "LBM (James)")
    return _by_sex(1.10 * w - male_coefficient * (w / h) ** 2, 1.07 * w - 148.0 * (w / h) ** 2, sex)


def ibw_kg(height_cm: float, sex: SexArg) -> float:
    """Ideal body weight (kg): ``48.0 + 1.06 (H - 152)`` (male), ``45.5 + 0.91 (H - 152)`` (female)."""
    _, h = _check(1.0, height_cm, "IBW")
    return _by_sex(48.0 + 1.06 * (h - 152.0), 45.5 + 0.91 * (h - 152.0), sex)


def bsa_dubois_m2(weight_kg: float, height_cm: float) -> float:
    """Body surface area (m^2), Du Bois: ``0.007184 H^0.725 W^0.425``."""
    w, h = _check(weight_kg, height_cm, "BSA (Du Bois)")
    return 0.007184 * h**0.725 * w**0.425
