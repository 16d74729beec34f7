"""`earworm recommend --user ID`: a member's picks from the models serving now."""

from __future__ import annotations

import click

from bot.cli.common import fail, print_json, run, settings_of

TIER_NOTES = {
    "cold": "no likes yet: popular tracks across genres to react to",
    "light": "a few likes: tracks that sound like them, and what is popular",
    "warm": "what people with taste like theirs like, and what sounds like their likes",
    "rich": "a long history: more from the artists they keep playing, and what people with "
    "taste like theirs like",
}


@click.command("recommend")
@click.option("--user", "user", type=int, required=True, help="The member's Discord user id.")
@click.option("--k", "k", default=10, show_default=True, help="How many tracks (1-100).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def command(ctx: click.Context, user: int, k: int, as_json: bool) -> None:
    """Personal picks for a member: the hybrid of the active ALS/NCF models, content
    similarity and popularity. A member with no feedback gets popular tracks with variety."""
    from bot.cli.content import print_results, recommendation_json
    from bot.serving.recommend import RecommendRequestError, recommend_for

    try:
        answer = run(recommend_for(settings_of(ctx), user, k))
    except RecommendRequestError as exc:
        fail(str(exc))
    if as_json:
        print_json([recommendation_json(answer.catalog, r) for r in answer.results])
        return
    models = answer.models
    serving = ", ".join(f"{kind} v{version}" for kind, version in models.versions.items())
    click.echo(f"Picks for member {answer.user} ({TIER_NOTES[answer.tier]}).")
    click.echo(
        f"  models: {serving or 'no trained model yet (run earworm train)'}, content, "
        f"popularity; blend weights: {models.weights_from}"
    )
    for kind, note in models.skipped.items():
        click.echo(f"  warning: {kind} {note}", err=True)
    if not answer.results:
        click.echo("  nothing to recommend yet; import a catalog or add feedback.")
    print_results(answer.catalog, answer.results)


COMMANDS = [command]
