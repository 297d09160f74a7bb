"""Typed application keys shared by the command server's modules."""

from __future__ import annotations

from concurrent.futures import Executor

import asyncpg
from aiohttp import web

from command.holder_cards import PhotoCache
from command.hub import Hub
from command.photo_seal import KeyFile
from command.responders import Responders
from command.service import CommandService
from command.twin_service import TwinService
from eventguard.config import Venue
from eventguard.settings import ServerSettings

SETTINGS = web.AppKey("settings", ServerSettings)
VENUE = web.AppKey("venue", Venue)
POOL = web.AppKey("pool", asyncpg.Pool)
HUB = web.AppKey("hub", Hub)
SERVICE = web.AppKey("service", CommandService)
FACES = web.AppKey("faces", Executor)  # the server's face thread (watchlist photos)
PHOTO_KEY = web.AppKey("photo_key", KeyFile)  # seals enrolment photos (command/photo_seal.py)
ID_KEY = web.AppKey("id_key", KeyFile)  # the ID-number HMAC secret (command/registration.py), synced to gates
HOLDER_PHOTOS = web.AppKey("holder_photos", PhotoCache)  # small registered photos for gates' checks
RESPONDERS = web.AppKey("responders", Responders)  # open responder sockets by unit (issue 20)

TWIN = web.AppKey("twin", TwinService)  # issue 19; absent when the server has no twin model
