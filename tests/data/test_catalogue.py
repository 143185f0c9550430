import pytest

from data.catalogue import CatalogueError, City, UnknownCityError, load_catalogue

INDIAN_CITIES = {"DEL", "MUM", "BLR", "CHE", "KOL", "HYD", "AMD", "PUN", "JAI", "LKO"}


def test_shipped_catalogue_has_the_ten_cities(settings):
    catalogue = load_catalogue(settings)
    assert INDIAN_CITIES <= set(catalogue.codes)
    delhi = catalogue.get("del")
    assert delhi.subdivision == "DL" and delhi.timezone == "Asia/Kolkata"
    assert any(name == "Diwali" for name in delhi.holiday_calendar([2024]).values())


def test_user_city_from_another_country_persists_beside_the_lake(settings):
    catalogue = load_catalogue(settings)
    city = City(code="NSW", name="New South Wales", country="AU", subdivision="NSW",
                latitude=-33.87, longitude=151.21, timezone="Australia/Sydney", peak_mw=14000)
    catalogue.add(city)
    assert load_catalogue(settings).get("NSW") == city
    assert (settings.metadata_dir / "cities.yaml").exists()


@pytest.mark.parametrize(
    "field, value, message",
    [("timezone", "Asia/Nowhere", "timezone"), ("country", "XX", "country"), ("subdivision", "ZZ", "subdivision")],
)
def test_bad_city_definitions_are_refused(field, value, message):
    fields = dict(code="ABC", name="x", country="IN", subdivision="DL", latitude=1, longitude=1,
                  timezone="Asia/Kolkata", peak_mw=100)
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        City(**fields)


def test_unknown_city_and_duplicate_add_are_errors(settings):
    catalogue = load_catalogue(settings)
    with pytest.raises(UnknownCityError, match="XYZ"):
        catalogue.get("XYZ")
    with pytest.raises(CatalogueError, match="already exists"):
        catalogue.add(catalogue.get("DEL"))
