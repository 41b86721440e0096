runtime copy of runtime/php/Event.php (26 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
