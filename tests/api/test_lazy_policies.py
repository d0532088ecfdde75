"""Outside gunicorn the policies load on first use (a command that does not evaluate
does not compile them); what the API says about them is the same."""

from app import create_app


def test_versions_say_which_is_in_effect_before_any_decision(db_path, api_keys):
    # the way `flask run` builds the app: policies load on first use
    client = create_app({"VIGIL_DATABASE": db_path, "TESTING": True}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['audit']}"
    versions = client.get("/v1/rulesets/retail_card/versions").get_json()["versions"]
    assert [(v["version"], v["in_effect"]) for v in versions] == [(1, True)]
