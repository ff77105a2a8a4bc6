from signalway import search_attributes as sa


def test_code_and_temporal_config_name_the_same_attributes() -> None:
    assert sa.read_config() == sa.registrations()
    assert set(sa.registrations()) == {key.name for key in sa.ALL}


def test_dev_server_limit_of_ten_custom_keywords_is_respected() -> None:
    assert len(sa.registrations()) <= 10
