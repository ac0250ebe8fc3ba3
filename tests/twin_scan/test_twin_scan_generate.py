"""End to end: `theranostix twin` writes a consistent twin that the project's readers accept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from theranostix.core.errors import InvalidInputError


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """One small twin through the CLI: PSMA-617 therapy (one SPECT at 24 h) and one follow-up."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("twin") / "t"
    code, stdout, err = run_cli(["twin", "--out", str(out), "--seed", "5", "--vendor", "philips",
                                 "--therapy", "lu177-psma617", "--spect-times", "24",
                                 "--followup-cycles", "1", "--truth-mm", "3", "--json"])
    assert code == 0, err
    return out, json.loads(stdout)


def _first(folder: Path) -> pydicom.Dataset:
    return pydicom.dcmread(sorted(Path(folder).glob("*.dcm"))[0], stop_before_pixels=True)


def test_series_identity_and_frames_of_reference(twin):
    out, res = twin
    by = {(s["timepoint"], s["role"]): s for s in res["series"]}
    assert set(by) == {("baseline", "pet"), ("baseline", "ct"), ("therapy_024h", "spect"),
                       ("therapy_024h", "ct"), ("followup", "pet"), ("followup", "ct")}
    ds = {k: _first(v["path"]) for k, v in by.items()}
    assert len({d.PatientID for d in ds.values()}) == 1
    assert len({d.PatientBirthDate for d in ds.values()}) == 1
    for tp in ("baseline", "therapy_024h", "followup"):
        a, b = [d for (t, _), d in ds.items() if t == tp]
        assert a.FrameOfReferenceUID == b.FrameOfReferenceUID
        assert a.StudyInstanceUID == b.StudyInstanceUID
    fors = {d.FrameOfReferenceUID for d in ds.values()}
    studies = {d.StudyInstanceUID for d in ds.values()}
    assert len(fors) == 3 and len(studies) == 3
    assert len({d.SeriesInstanceUID for d in ds.values()}) == 6
    assert ds[("followup", "pet")].StudyDate > ds[("baseline", "pet")].StudyDate


def test_truth_json_holds_lesions_organs_kinetics_and_spect_calibration(twin):
    out, res = twin
    truth = json.loads((out / "truth" / "truth.json").read_text())
    assert truth["lesions"], "a nodal twin has lesions"
    for les in truth["lesions"]:
        for key in ("lesion_id", "station", "diameter_mm", "volume_ml", "suv", "kind"):
            assert key in les
    assert truth["organ_suv_mean"]["liver"] > 0
    th = truth["therapy"]
    assert th["calibration_cps_per_mbq"] > 0 and th["acquisition_duration_s"] > 0
    regions = th["kinetics"]["regions"]
    assert any(r.startswith("lesion_") for r in regions)
    assert all(r["tia_mbq_h"] > 0 for r in regions.values())
    assert truth["followup"]["cycles"] == 1 and "response" in truth["followup"]
    for f in ("organs.nii.gz", "lesions.nii.gz", "followup_lesions.nii.gz"):
        assert (out / "truth" / f).is_file()


def test_baseline_pet_reads_back_with_true_organ_uptake(twin):
    from theranostix.core.resample import resample_to
    from theranostix.io.dicom.pet import load_pet
    from theranostix.io.nifti import read_nifti

    out, res = twin
    truth = json.loads((out / "truth" / "truth.json").read_text())
    pet = load_pet(out / "baseline" / "pet")
    labels, side = read_nifti(out / "truth" / "organs.nii.gz")
    ids = {v: int(k) for k, v in side["labels"].items()}
    lab = resample_to(labels, pet.image, "nearest").array
    for organ in ("liver", "muscle"):
        core = ndimage.binary_erosion(lab == ids[organ], iterations=2)
        assert core.sum() > 50
        measured = float(pet.image.array[core].mean())
        # noise averages out over the organ; PVE at the eroded core is small
        assert measured == pytest.approx(truth["organ_suv_mean"][organ], rel=0.08), organ
    # liver noise at default settings: CoV in 3 cm VOIs that fit inside the liver, 10-20 %
    liver = lab == ids["liver"]
    depth = ndimage.distance_transform_edt(liver, sampling=pet.image.spacing[::-1])
    centres = np.argwhere(depth >= 16.0)
    assert len(centres) > 0
    centres = centres[np.random.default_rng(0).choice(len(centres), 8, replace=False)]
    k, j, i = np.indices(liver.shape)
    sz, sy, sx = pet.image.spacing[::-1]
    covs = []
    for c in centres:
        ball = ((k - c[0]) * sz) ** 2 + ((j - c[1]) * sy) ** 2 + ((i - c[2]) * sx) ** 2 <= 15.0**2
        v = pet.image.array[ball]
        covs.append(float(v.std() / v.mean()))
    assert 0.10 <= float(np.mean(covs)) <= 0.20, covs


def test_spect_reads_back_the_true_activity(twin):
    from theranostix.io.dicom.nm import load_spect

    out, res = twin
    truth = json.loads((out / "truth" / "truth.json").read_text())
    tp = truth["therapy"]["timepoints"][0]
    vol = load_spect(out / "therapy" / "024h" / "spect")
    assert vol.hours_after_administration == pytest.approx(24.0)
    total_mbq = float(vol.image.array.sum(dtype=np.float64)) * vol.image.voxel_volume_ml / 1e6
    assert total_mbq == pytest.approx(tp["total_activity_in_body_mbq"], rel=0.02)


def test_cli_bad_options_exit_2(cli, tmp_path):
    for args in (["--vendor", "acme"], ["--tracer", "nope"], ["--sex", "x"],
                 ["--therapy", "i131"], ["--followup-cycles", "-1"], ["--fwhm-mm", "-2"],
                 ["--spect-times", "a,b"]):
        code, out, err = cli(["twin", "--out", str(tmp_path / "o"), *args])
        assert code == 2, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_refuses_to_overwrite_a_folder_that_is_not_a_twin(tmp_path):
    from theranostix.twin.generate import make_twin

    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(InvalidInputError, match="not empty"):
        make_twin(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "user data"


def test_same_seed_twins_are_identical(tmp_path):
    """Two whole twins with the same seed: every DICOM file and truth.json byte-identical."""
    from theranostix.twin.generate import make_twin

    a = make_twin(tmp_path / "a", seed=3, truth_spacing_mm=3.0)
    b = make_twin(tmp_path / "b", seed=3, truth_spacing_mm=3.0)
    files_a = sorted(p.relative_to(a.out_dir) for p in a.out_dir.rglob("*.dcm"))
    files_b = sorted(p.relative_to(b.out_dir) for p in b.out_dir.rglob("*.dcm"))
    assert files_a == files_b and len(files_a) > 100
    for rel in files_a + [Path("truth/truth.json")]:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel
