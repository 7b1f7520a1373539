#!/usr/bin/python3
"""A WebKitGTK browser for WebDriver with a persistent profile, and one web process per window.

MiniBrowser keeps its storage in memory under automation, so IndexedDB cannot outlive a browser restart, and the
windows a WebDriver session opens in it share one web process. This launcher keeps the website data in the folder
given as --profile=DIR (so a second session on the same folder finds it), and creates each window's view on its
own, unrelated to the others, so each runs in its own web process as separate Safari tabs do.

WebKitWebDriver starts it (capabilities: "webkitgtk:browserOptions": {"binary": this file, "args":
["--automation", "--profile=DIR"]}); the name it reports is --name=NAME (default "safari", the name vitest's
webdriverio provider asks for). Needs python3-gi and gir1.2-webkit2-4.1.
"""
import sys

import gi

gi.require_version('Gtk', '3.0')
gi.require_version('WebKit2', '4.1')
from gi.repository import Gtk, WebKit2  # noqa: E402


def option(name, default=None):
    prefix = f'--{name}='
    for arg in sys.argv[1:]:
        if arg.startswith(prefix):
            return arg[len(prefix):]
    return default


profile = option('profile')
if not profile:
    sys.exit('webkit-launcher: --profile=DIR is required')
name = option('name', 'safari')

data = WebKit2.WebsiteDataManager(base_data_directory=f'{profile}/data', base_cache_directory=f'{profile}/cache')
context = WebKit2.WebContext(website_data_manager=data)
context.set_process_model(WebKit2.ProcessModel.MULTIPLE_SECONDARY_PROCESSES)
context.set_automation_allowed(True)
windows = set()


def new_view(_session):
    view = WebKit2.WebView(web_context=context, is_controlled_by_automation=True)
    window = Gtk.Window()
    window.set_default_size(1024, 768)
    window.add(view)
    windows.add(window)

    def closed(_view):
        windows.discard(window)
        window.destroy()
        if not windows:
            Gtk.main_quit()

    view.connect('close', closed)
    window.show_all()
    return view


def automation_started(_context, session):
    info = WebKit2.ApplicationInfo()
    info.set_name(name)
    info.set_version(WebKit2.get_major_version(), WebKit2.get_minor_version(), WebKit2.get_micro_version())
    session.set_application_info(info)
    session.connect('create-web-view', new_view)


context.connect('automation-started', automation_started)
Gtk.main()
