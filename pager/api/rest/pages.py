"""Pagination of every collection: `?limit=&offset=`, a `next` link in the body and in `Link`.

No total count: finding out whether there is a next page costs one extra row, a count costs a
second query over the whole table (alerts grow without bound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Response

from pager.api.rest.schemas import Paginated

T = TypeVar("T")
MAX_LIMIT = 200
MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True)
class PageQuery:
    limit: int
    offset: int


def page_query(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-200).")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageQuery:
    return PageQuery(limit, offset)


PageDep = Annotated[PageQuery, Depends(page_query)]


def page_of(request: Request, response: Response, query: PageQuery, rows: Sequence[T]) -> Paginated[T]:
    """The page for `rows`, the items from `query.offset` on, of which up to `limit + 1` were fetched.

    The extra row, when present, only says that a next page exists.
    """
    items = list(rows[: query.limit])
    following = None
    if len(rows) > query.limit:
        url = request.url.include_query_params(limit=query.limit, offset=query.offset + query.limit)
        following = f"{url.path}?{url.query}"
        response.headers["Link"] = f'<{following}>; rel="next"'
    return Paginated[T](items=items, limit=query.limit, offset=query.offset, next=following)


def slice_page(
    request: Request, response: Response, query: PageQuery, everything: Sequence[T]
) -> Paginated[T]:
    """The page of an in-memory collection (small ones: users, schedules, policies...)."""
    return page_of(request, response, query, everything[query.offset : query.offset + query.limit + 1])
